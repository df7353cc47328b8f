"""The local supervisor: runs the platform's service replicas and restarts any that dies.

What systemd's `Restart=always` or a Kubernetes Deployment does for the services, for the
native local platform (`deploy/local/services`) and the campaign's chaos test:

    python deploy/local/supervise.py --run-dir DIR --log-dir DIR SERVICE:PORT [SERVICE:PORT ...]

`ingest:8101 ingest:8111` runs two replicas of `dinamis-ingest` (named `ingest-1`,
`ingest-2`), each with its HTTP port in `DINAMIS_<SERVICE>_HTTP_PORT`. A replica that exits
(crash, SIGKILL) is started again after a back-off (1 s, doubled while it keeps dying within
10 s of its start, up to 15 s). The supervisor keeps, in the run directory:

- `replicas.json` — each replica: service, port, pid, started_at, restarts, last exit
  (rewritten atomically on every change: the chaos monkey picks its victims there);
- `supervisor.jsonl` — one line per start and exit (the campaign report counts them).

SIGTERM / SIGINT stops every replica (SIGTERM, then SIGKILL after 20 s) and exits.
Standard library only: it must outlive everything it supervises.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BACKOFF_START_S, BACKOFF_MAX_S, STABLE_S = 1.0, 15.0, 10.0


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Replica:
    name: str
    service: str
    port: int
    pid: int | None = None
    started_at: str | None = None
    restarts: int = 0
    last_exit: str | None = None
    # not saved
    proc: subprocess.Popen | None = field(default=None, repr=False)
    started_mono: float = 0.0
    backoff_s: float = BACKOFF_START_S
    due_mono: float = 0.0

    def public(self) -> dict:
        keys = ("name", "service", "port", "pid", "started_at", "restarts", "last_exit")
        return {k: getattr(self, k) for k in keys}


def port_variable(service: str) -> str:
    if service == "supplier-sim":  # the simulator's settings are DINAMIS_SUPPLIER_*
        return "DINAMIS_SUPPLIER_HTTP_PORT"
    return f"DINAMIS_{service.upper().replace('-', '_')}_HTTP_PORT"


class Supervisor:
    def __init__(self, specs: list[tuple[str, int]], run_dir: Path, log_dir: Path) -> None:
        self.run_dir, self.log_dir = run_dir, log_dir
        counts: dict[str, int] = {}
        self.replicas: list[Replica] = []
        for service, port in specs:
            counts[service] = counts.get(service, 0) + 1
            self.replicas.append(Replica(f"{service}-{counts[service]}", service, port))
        self.stopping = False

    def journal(self, **entry: object) -> None:
        with (self.run_dir / "supervisor.jsonl").open("a") as f:
            f.write(json.dumps({"at": now(), **entry}) + "\n")

    def save(self) -> None:
        tmp = self.run_dir / "replicas.json.tmp"
        tmp.write_text(
            json.dumps({"supervisor": os.getpid(), "replicas": [r.public() for r in self.replicas]}, indent=1)
        )
        tmp.replace(self.run_dir / "replicas.json")

    def start(self, r: Replica) -> None:
        env = {**os.environ, port_variable(r.service): str(r.port)}
        log = (self.log_dir / f"{r.name}.log").open("ab")
        r.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / f"dinamis-{r.service}")],
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        r.pid, r.started_at, r.started_mono = r.proc.pid, now(), time.monotonic()
        self.journal(event="start", replica=r.name, pid=r.pid, port=r.port, restarts=r.restarts)
        self.save()

    def reap(self) -> None:
        for r in self.replicas:
            if r.proc is None or r.proc.poll() is None:
                continue
            code = r.proc.returncode
            how = f"signal {-code}" if code < 0 else f"exit {code}"
            lived = time.monotonic() - r.started_mono
            r.backoff_s = BACKOFF_START_S if lived > STABLE_S else min(BACKOFF_MAX_S, r.backoff_s * 2)
            r.proc, r.pid, r.last_exit = None, None, f"{now()} {how}"
            r.due_mono = time.monotonic() + (0 if self.stopping else r.backoff_s)
            self.journal(event="exit", replica=r.name, how=how, lived_s=round(lived, 1))
            self.save()

    def run(self) -> None:
        for r in self.replicas:
            self.start(r)
        while not self.stopping:
            self.reap()
            for r in self.replicas:
                if r.proc is None and not self.stopping and time.monotonic() >= r.due_mono:
                    r.restarts += 1
                    self.start(r)
            time.sleep(0.2)
        self.shutdown()

    def shutdown(self) -> None:
        live = [r for r in self.replicas if r.proc is not None and r.proc.poll() is None]
        for r in live:
            r.proc.terminate()  # type: ignore[union-attr]
        deadline = time.monotonic() + 20
        for r in live:
            try:
                r.proc.wait(max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                r.proc.kill()  # type: ignore[union-attr]
                r.proc.wait()  # type: ignore[union-attr]
        self.reap()
        self.journal(event="stopped")
        (self.run_dir / "replicas.json").unlink(missing_ok=True)


def parse_spec(text: str) -> tuple[str, int]:
    service, _, port = text.partition(":")
    if not service or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected SERVICE:PORT, got {text!r}")
    return service, int(port)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--log-dir", type=Path, required=True)
    p.add_argument("replicas", nargs="+", type=parse_spec)
    args = p.parse_args()
    args.run_dir.mkdir(parents=True, exist_ok=True)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(args.replicas, args.run_dir, args.log_dir)

    def stop(*_: object) -> None:
        sup.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sup.run()
    sys.exit(0)


if __name__ == "__main__":
    main()

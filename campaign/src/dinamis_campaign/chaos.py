"""The faults of `--chaos`: every `kill_every_s` a random service replica is SIGKILLed (the
local supervisor, `deploy/local/supervise.py`, starts it again), and each server —
Kafka, FerretDB, PostgreSQL, the S3 server — is restarted once (`deploy/local/stack down
X` then `up X`), spaced out during the run. Every action is timed and kept for the report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dinamis_shared.errors import DinamisError

ROOT = Path(__file__).resolve().parents[3]
SERVERS = ("kafka", "ferretdb", "postgres", "s3")


class NotSupervised(DinamisError):
    code = "not-supervised"


@dataclass
class Kill:
    at: str
    replica: str
    pid: int


@dataclass
class ServerRestart:
    at: str
    server: str
    down_s: float  # from the stop command to the server answering again
    ok: bool
    output: str = ""


@dataclass
class ChaosLog:
    kills: list[Kill] = field(default_factory=list)
    restarts: list[ServerRestart] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "kills": [asdict(k) for k in self.kills],
            "kills_by_service": count_by(k.replica.rsplit("-", 1)[0] for k in self.kills),
            "server_restarts": [asdict(r) for r in self.restarts],
        }


def count_by(names: Iterable[str]) -> dict[str, int]:
    """How many times each name, sorted by name."""
    out: dict[str, int] = {}
    for n in names:
        out[n] = out.get(n, 0) + 1
    return dict(sorted(out.items()))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def replicas(run_dir: Path) -> list[dict]:
    """The supervised replicas now running (the supervisor's `replicas.json`)."""
    path = run_dir / "replicas.json"
    if not path.exists():
        raise NotSupervised(
            f"no supervisor state in {path}: chaos needs the services run by deploy/local/services up",
            message_fr=f"aucun superviseur ({path}) : le chaos demande les services lancés par "
            "deploy/local/services up",
        )
    doc = json.loads(path.read_text())
    return [r for r in doc["replicas"] if r.get("pid") and _runs(r["pid"], f"dinamis-{r['service']}")]


def _runs(pid: int, program: str) -> bool:
    """The pid still runs that program (a stale file must not make chaos kill another process)."""
    try:
        return program in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False


def supervisor_restarts(run_dir: Path, since: datetime) -> dict[str, int]:
    """Restarts the supervisor made since `since`, per service (its journal)."""
    out: dict[str, int] = {}
    journal = run_dir / "supervisor.jsonl"
    if not journal.exists():
        return out
    for line in journal.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("event") == "start" and entry.get("restarts", 0) > 0:
            if datetime.fromisoformat(entry["at"]) >= since:
                service = entry["replica"].rsplit("-", 1)[0]
                out[service] = out.get(service, 0) + 1
    return dict(sorted(out.items()))


class Chaos:
    def __init__(
        self,
        run_dir: Path,
        rng: random.Random,
        *,
        kill_every_s: float = 10.0,
        servers: tuple[str, ...] = SERVERS,
        first_server_after_s: float = 20.0,
        server_every_s: float = 30.0,
        spare: tuple[str, ...] = (),
    ) -> None:
        self.run_dir, self.rng = run_dir, rng
        self.kill_every_s, self.servers = kill_every_s, list(servers)
        self.first_server_after_s, self.server_every_s = first_server_after_s, server_every_s
        self.spare = spare  # services never killed (e.g. the supplier simulator)
        self.log = ChaosLog()
        self.hurry = asyncio.Event()
        replicas(run_dir)  # fails now, not later, without a supervisor

    async def kill_loop(self) -> None:
        while True:
            await asyncio.sleep(self.kill_every_s)
            alive = [r for r in replicas(self.run_dir) if r["service"] not in self.spare]
            if not alive:
                continue
            victim = self.rng.choice(alive)
            try:
                os.kill(victim["pid"], signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.log.kills.append(Kill(now(), victim["name"], victim["pid"]))

    async def restart_server(self, server: str) -> ServerRestart:
        t0, at = time.monotonic(), now()
        stack = str(ROOT / "deploy" / "local" / "stack")
        proc = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            f'"{stack}" down {server} && "{stack}" up {server}',
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        restart = ServerRestart(
            at, server, round(time.monotonic() - t0, 1), proc.returncode == 0, out.decode()[-600:]
        )
        self.log.restarts.append(restart)
        return restart

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.hurry.wait(), seconds)

    async def server_loop(self) -> None:
        """Each server restarted once, `server_every_s` apart — at once one after the
        other once `hurry` is set (the run's faulty phase is over). Never cancelled in the
        middle of a restart: a server left down would be a fault of the test, not of the
        platform."""
        await self._pause(self.first_server_after_s)
        while self.servers:
            await self.restart_server(self.servers.pop(0))
            await self._pause(self.server_every_s)

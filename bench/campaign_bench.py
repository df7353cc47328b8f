"""Campaign benchmarks (issue 17), on the running platform (`make up`: the stack and the
services under the supervisor); prints JSON (and writes it with --out).

- P7 — the yearly coverage end to end (`dinamis campaign`, no faults) at several scales
  (default 60, 120, 240 cells, orders in proportion: 2,000 for 240 cells), from 50
  organisations: wall time, and its growth — the time per cell of each scale over that of
  the smallest (linear: within 10 %), per core too. The per-cell figure is taken on the
  campaign's active phase (first delivery → everything built and the lag back to 0); the
  one-off set-up (members, quotas) and the invariant checks are reported apart.
- P3 under load — `scene-ingested` → first found by a catalogue search, p95, for the scenes
  ingested during the order burst of the largest scale (target ≤ 100 ms; the probe polls
  every 20 ms, so the figure includes up to 20 ms of polling).
- chaos — the largest scale again with `--chaos`: the full report (kills, server restarts,
  invariants) — `--only chaos`.
- P6, P1, P4 — the bus, ingest and delivery benchmarks these figures come from
  (`bench/bus`, `bench/ingest --full-size`, `bench/delivery --clip-only`), run as they are
  and folded in (`--only p6,p1,p4`).

    bench/campaign                          # P7 + P3 (60, 120, 240 cells)
    bench/campaign --scales 24,48 --orders-per-cell 4 --only p7    # a short run
    bench/campaign --only chaos --scales 240
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from dinamis_campaign.drive import Campaign, Options, fresh_year
from dinamis_shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]


async def one(cells: int, orders: int, organisations: int, chaos: bool, settings: ServiceSettings) -> dict:
    year = await fresh_year(settings, datetime.now(UTC).year + 1)
    stack = Path(os.environ.get("DINAMIS_STACK_DIR", ROOT / ".stack"))
    opts = Options(
        cells=cells,
        orders=orders,
        organisations=organisations,
        year=year,
        chaos=chaos,
        key_file=Path(settings.auth_local_key_file),
        run_dir=stack / "run",
        out_dir=ROOT / ".artifacts" / "campaign",
        progress=True,
        drain_s=3600,
        lag_bound_s=300,
        prefix="bench",
    )
    return await Campaign(opts, settings).run()


def p7(reports: list[dict]) -> dict:
    cores = os.cpu_count() or 1
    rows = []
    base = None
    for r in reports:
        cells = r["options"]["cells"]
        per_cell = r["active_s"] / cells
        base = base or per_cell
        rows.append(
            {
                "cells": cells,
                "orders": r["options"]["orders"],
                "wall_s": r["wall_s"],
                "setup_s": r["setup_s"],
                "invariants_s": r["invariants_s"],
                "active_s": r["active_s"],
                "active_s_per_cell": round(per_cell, 3),
                "active_core_s_per_cell": round(per_cell * cores, 3),
                "per_cell_vs_smallest": round(per_cell / base, 3),
                "invariants_ok": r["invariants"]["ok"],
                "ok": r["ok"],
            }
        )
    growth = [row["per_cell_vs_smallest"] for row in rows]
    return {
        "cores": cores,
        "scales": rows,
        "linear_within_10_percent": all(0.9 <= g <= 1.1 for g in growth),
    }


def p3(report: dict) -> dict:
    cat = report["stages"]["catalog"]
    during = cat["ingested_to_searchable_ms_during_burst"]
    return {
        "cells": report["options"]["cells"],
        "during_burst_ms": during,
        "all_ms": cat["ingested_to_searchable_ms"],
        "target_p95_ms": 100,
        "met": during["p95"] is not None and during["p95"] <= 100,
    }


def sub_bench(command: list[str]) -> dict:
    """Another benchmark, run as it is; its JSON (the last JSON document it prints)."""
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"command": " ".join(command), "failed": done.returncode, "stderr": done.stderr[-2000:]}
    text = done.stdout.strip()
    start = text.rfind("\n{")
    return {"command": " ".join(command), "result": json.loads(text[start + 1 :] if start >= 0 else text)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="p7,p3", help="any of p7,p3,chaos,p6,p1,p4")
    p.add_argument("--scales", default="60,120,240")
    p.add_argument("--orders-per-cell", type=float, default=2000 / 240)
    p.add_argument("--organisations", type=int, default=50)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    only = set(args.only.split(","))
    scales = [int(s) for s in args.scales.split(",")]
    settings = ServiceSettings()
    out: dict = {"at": datetime.now(UTC).isoformat(), "machine": {"cores": os.cpu_count()}}
    if only & {"p7", "p3"}:
        reports = []
        for cells in scales:
            orders = round(cells * args.orders_per_cell)
            reports.append(asyncio.run(one(cells, orders, args.organisations, False, settings)))
            print(f"P7: {cells} cells done in {reports[-1]['wall_s']} s", file=sys.stderr)
        out["p7"] = p7(reports)
        out["p3_under_load"] = p3(reports[-1])
        out["reports"] = {r["options"]["cells"]: r for r in reports}
    if "chaos" in only:
        cells = scales[-1]
        out["chaos"] = asyncio.run(
            one(cells, round(cells * args.orders_per_cell), args.organisations, True, settings)
        )
    if "p6" in only:
        out["p6"] = sub_bench(["bench/bus"])
    if "p1" in only:
        out["p1"] = sub_bench(["bench/ingest", "--full-size"])
    if "p4" in only:
        out["p4"] = sub_bench(["bench/delivery", "--clip-only"])
    text = json.dumps(out, indent=1, default=str)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

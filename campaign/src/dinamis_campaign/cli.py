"""`dinamis campaign`: the command line (wired in `dinamis_cli.main`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from dinamis_shared.settings import ServiceSettings


def add_parser(sub) -> None:
    p = sub.add_parser(
        "campaign",
        help="the yearly coverage end to end on the running platform (optionally under faults)",
        description="Runs a yearly coverage campaign on the running platform: members, N cells "
        "delivered (some cloudy or corrupt, re-tasked), ingest → catalogue, a burst of product "
        "orders → delivery → notify; checks the invariants and writes a JSON report.",
    )
    p.add_argument("--cells", type=int, default=240, help="coverage cells to acquire (default 240)")
    p.add_argument("--orders", type=int, default=2000, help="product orders in the burst (default 2000)")
    p.add_argument("--organisations", type=int, default=50)
    p.add_argument(
        "--year",
        type=int,
        help="the campaign's year (default: the first year from this one whose campaign has not begun here)",
    )
    p.add_argument("--size", type=int, default=256, help="PAN pixels across a cell (reduced size)")
    p.add_argument("--full-size", action="store_true", help="real cell sizes (1.5 m: 34,667 px)")
    p.add_argument("--cloudy", type=float, default=0.08, help="share of cloudy deliveries")
    p.add_argument("--corrupt", type=float, default=0.04, help="share of corrupt deliveries")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--chaos", action="store_true", help="kill replicas and restart servers meanwhile")
    p.add_argument("--kill-every", type=float, default=10.0, help="seconds between two kills")
    p.add_argument("--server-every", type=float, default=30.0, help="seconds between two server restarts")
    p.add_argument("--drain", type=float, default=900.0, help="seconds allowed to drain")
    p.add_argument("--lag-bound", type=float, default=180.0, help="seconds for the lag to reach 0")
    p.add_argument("--order-concurrency", type=int, default=8)
    p.add_argument(
        "--orders-url", default=os.environ.get("DINAMIS_ORDERS_URL", "http://127.0.0.1:8103") + "/v1"
    )
    p.add_argument("--catalog-url", default=os.environ.get("DINAMIS_CATALOG_URL", "http://127.0.0.1:8102"))
    p.add_argument("--out", type=Path, default=Path(".artifacts/campaign"), help="report directory")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from dinamis_campaign.drive import Campaign, Options, fresh_year

    if not 1 <= args.cells <= 400:
        sys.exit("--cells must be between 1 and 400")
    if not 0 <= args.orders <= 20000:
        sys.exit("--orders must be between 0 and 20000")
    if not 2 <= args.organisations <= 99:
        sys.exit("--organisations must be between 2 and 99")
    if not 64 <= args.size <= 20000:
        sys.exit("--size must be between 64 and 20000")
    settings = ServiceSettings()
    year = args.year or asyncio.run(fresh_year(settings, datetime.now(UTC).year))
    stack = Path(os.environ.get("DINAMIS_STACK_DIR", ".stack"))
    opts = Options(
        cells=args.cells,
        orders=args.orders,
        organisations=args.organisations,
        year=year,
        size=args.size,
        full_size=args.full_size,
        cloudy_share=args.cloudy,
        corrupt_share=args.corrupt,
        seed=args.seed,
        chaos=args.chaos,
        kill_every_s=args.kill_every,
        server_every_s=args.server_every,
        drain_s=args.drain,
        lag_bound_s=args.lag_bound,
        order_concurrency=args.order_concurrency,
        orders_url=args.orders_url,
        catalog_url=args.catalog_url,
        key_file=Path(settings.auth_local_key_file),
        run_dir=stack / "run",
        out_dir=args.out,
        progress=not args.quiet,
    )
    campaign = Campaign(opts, settings)
    report = asyncio.run(campaign.run())
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"campaign-{campaign.run_id}.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str))
    print(f"report: {path}", file=sys.stderr)
    return 0 if report["ok"] else 1

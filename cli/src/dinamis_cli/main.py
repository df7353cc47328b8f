"""`dinamis`: operator and developer tools.

    dinamis supplier simulate --mission SPOT6 --lon 2.35 --lat 48.85 --size 2000
    dinamis supplier simulate --coverage france --year 2026 --size 256 [--limit 20] [--wait]
    dinamis supplier simulate ... --via http     (signed push to the ingest service)
    dinamis campaign [--cells 240] [--orders 2000] [--chaos] [--full-size]   (dinamis_campaign)
    dinamis activity simulate [--years 2022-2026] [--organisations 450] [--seed 1]
                              [--publish] [--out activity.jsonl]   (dinamis_sim.activity)

Connection settings come from the same DINAMIS_* variables as the services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from dinamis_campaign import cli as campaign_cli
from dinamis_shared import clients
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import Mission, SceneAcquiredV1, SceneIngestedV1, SceneRejectedV1
from dinamis_shared.settings import ServiceSettings
from dinamis_shared.signing import signed_headers
from dinamis_sim.coverage import coverage_cells
from dinamis_sim.simulator import SimulatedScene, announce, coverage_scene, stage_package, write_package
from dinamis_testkit.watch import EventWatcher


def _scenes(args: argparse.Namespace) -> list[tuple[SimulatedScene, str | None]]:
    if args.coverage:
        if args.coverage != "france":
            sys.exit("only --coverage france is known")
        cells = coverage_cells(args.year)[: args.limit or None]
        return [(coverage_scene(c, args.size, str(args.year)), f"france-{args.year}") for c in cells]
    when = datetime.fromisoformat(args.date).replace(tzinfo=UTC) if args.date else datetime.now(UTC)
    return [
        (
            SimulatedScene(
                mission=Mission(args.mission),
                lon=args.lon + 0.05 * k,
                lat=args.lat,
                acquired_at=when,
                size=args.size,
                job_id=str(uuid.uuid4().int)[:10],
                seed=args.seed + k,
            ),
            args.campaign,
        )
        for k in range(args.count)
    ]


async def simulate(args: argparse.Namespace) -> int:
    settings = ServiceSettings()
    s3 = clients.s3_client(settings)
    broker = make_broker(settings)
    await broker.connect()
    publisher = EventPublisher(broker, "/dinamis/supplier-simulator")
    topics = [SceneIngestedV1.topic(), SceneRejectedV1.topic()]
    watcher = EventWatcher(settings.kafka_bootstrap_servers, topics)
    await watcher.__aenter__()
    announced: list[SceneAcquiredV1] = []
    t0 = time.perf_counter()
    try:
        for scene, campaign in _scenes(args):
            with tempfile.TemporaryDirectory(prefix="supplier-") as tmp:
                checksums = write_package(scene, Path(tmp) / "pkg")
                prefix = f"airbus/{scene.scene_id}-{uuid.uuid4().hex[:6]}/"
                size = stage_package(s3, Path(tmp) / "pkg", "staging", prefix)
            event = announce(scene, prefix, checksums, size, campaign=campaign)
            if args.via == "http":
                body = event.model_dump_json().encode()
                secret = os.environ.get("DINAMIS_SUPPLIER_SECRET", "dinamis-dev-airbus-secret")
                async with httpx.AsyncClient() as http:
                    r = await http.post(
                        f"{args.ingest_url}/v1/suppliers/airbus/deliveries",
                        content=body,
                        timeout=30,
                        headers=signed_headers(secret, body),
                    )
                r.raise_for_status()
            else:
                await publisher.publish(event)
            announced.append(event)
            print(json.dumps({"announced": event.scene_id, "bytes": size, "campaign": campaign}), flush=True)
        result = {"announced": len(announced), "seconds_to_announce": round(time.perf_counter() - t0, 2)}
        if args.wait:
            ids = {e.scene_id for e in announced}

            def done() -> bool:
                seen = {k.decode() for t, _, k, _ in watcher.records}
                return ids <= seen

            await watcher.wait(done, args.wait)
            ingested = sum(bool(watcher.events(SceneIngestedV1, i)) for i in ids)
            result |= {
                "ingested": ingested,
                "rejected": len(ids) - ingested,
                "seconds_to_ingest": round(time.perf_counter() - t0, 2),
            }
        print(json.dumps(result))
        return 0 if result.get("rejected", 0) == 0 else 1
    finally:
        await watcher.__aexit__(None, None, None)
        await broker.stop()


def token(args: argparse.Namespace) -> int:
    """Development convenience: print a bearer token.

    Default: a real token from the local Keycloak (`DINAMIS_KEYCLOAK_URL`, realm
    `dinamis`) for a user, through the development-only `dinamis-dev` client (password
    grant). `--local`: a token signed with the laptop's development key instead (fast,
    refused in production). Either way the token says only who you are: what you may do
    is what the orders service's records say about that `sub`."""
    import os
    from datetime import timedelta
    from pathlib import Path

    import httpx

    from dinamis_shared.auth import LOCAL_ISSUER, ensure_local_signing_key, mint_token
    from dinamis_shared.settings import ServiceSettings

    # Unset means production (the platform's default): `source deploy/local/stack.env` sets
    # DINAMIS_ENVIRONMENT=development on a laptop.
    if os.environ.get("DINAMIS_ENVIRONMENT", "production") == "production":
        print(
            "dinamis token: development only (production tokens come from the identity provider;"
            " on the local stack, `source deploy/local/stack.env` sets DINAMIS_ENVIRONMENT=development)",
            file=sys.stderr,
        )
        return 2
    settings = ServiceSettings()
    if not args.local:
        if not args.email:
            print("dinamis token: give --email (Keycloak user) or --local --user SUB", file=sys.stderr)
            return 2
        base = os.environ.get("DINAMIS_KEYCLOAK_URL", "http://127.0.0.1:8180")
        answer = httpx.post(
            f"{base}/realms/dinamis/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "dinamis-dev",
                "username": args.email,
                "password": args.password,
            },
            timeout=30,
        )
        if answer.status_code != 200:
            print(
                f"dinamis token: Keycloak refused ({answer.status_code}): {answer.text[:200]}",
                file=sys.stderr,
            )
            return 1
        print(answer.json()["access_token"])
        return 0
    if not args.user:
        print("dinamis token --local: give --user SUB", file=sys.stderr)
        return 2
    key = ensure_local_signing_key(Path(args.key_file or settings.auth_local_key_file))
    print(
        mint_token(
            key,
            user_id=args.user,
            ttl=timedelta(hours=args.hours),
            issuer=LOCAL_ISSUER,
            audience=settings.auth_audience,
        )
    )
    return 0


async def archive(records: list, settings: ServiceSettings) -> dict:
    """The simulated events written into the reporting's archive as its consumer would
    have (the same writer: idempotent by event id), with the stack tools' S3 identity.
    They never went through Kafka: `kafka_partition` -1, `kafka_offset` their rank."""
    from dinamis_reporting.archive.store import S3ObjectStore
    from dinamis_reporting.archive.writer import ArchiveWriter, Record
    from dinamis_shared import clients

    writer = ArchiveWriter(S3ObjectStore(clients.s3_client(settings), "events"))
    t0 = time.perf_counter()
    written = duplicates = 0
    for start in range(0, len(records), 5000):
        batch = [
            Record(
                r.topic,
                -1,
                start + i,
                r.key.encode(),
                r.value,
                [(k, v.encode()) for k, v in r.headers.items()],
                int(r.time.timestamp() * 1000),
            )
            for i, r in enumerate(records[start : start + 5000])
        ]
        result = await writer.write(batch)
        written, duplicates = written + result.written, duplicates + result.duplicates
    return {"written": written, "duplicates": duplicates, "seconds": round(time.perf_counter() - t0, 2)}


def activity(args: argparse.Namespace) -> int:
    """Years of simulated activity (dinamis_sim.activity): on the bus as the stack tools'
    `admin` principal (`--publish`), and/or to a JSON-lines file (`--out`)."""
    from dinamis_sim.activity import parse_years, publish, simulate, summary, write_jsonl

    if not (args.publish or args.out or args.archive):
        print("dinamis activity simulate: give --publish, --archive and/or --out FILE", file=sys.stderr)
        return 2
    try:
        years = parse_years(args.years)
    except ValueError as exc:
        print(f"dinamis activity simulate: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    records = simulate(years, args.organisations, args.seed)
    if args.until:
        text = args.until.replace("Z", "+00:00")
        until = datetime.now(UTC) if text == "now" else datetime.fromisoformat(text)
        until = until if until.tzinfo else until.replace(tzinfo=UTC)
        records = [r for r in records if r.time <= until]
    result: dict = summary(records) | {"seconds_to_simulate": round(time.perf_counter() - t0, 2)}
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            write_jsonl(records, out)
        result["out"] = args.out
    if args.publish:
        result["publish"] = asyncio.run(publish(records, ServiceSettings()))
    if args.archive:
        result["archive"] = asyncio.run(archive(records, ServiceSettings()))
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dinamis")
    sub = parser.add_subparsers(dest="group", required=True)
    tok = sub.add_parser(
        "token", help="development only: a bearer token from the local Keycloak (or --local key)"
    )
    tok.add_argument("--email", help="the Keycloak user (deploy/local/keycloak.py user EMAIL)")
    tok.add_argument("--password", default="dinamis-dev-password")
    tok.add_argument("--local", action="store_true", help="sign with the laptop's development key instead")
    tok.add_argument("--user", help="with --local: the subject (sub) the token names")
    tok.add_argument("--hours", type=float, default=12.0)
    tok.add_argument("--key-file", help="with --local; default: DINAMIS_AUTH_LOCAL_KEY_FILE")
    supplier = sub.add_parser("supplier", help="supplier-side tools").add_subparsers(
        dest="command", required=True
    )
    sim = supplier.add_parser("simulate", help="write, stage and announce DIMAP deliveries")
    sim.add_argument("--mission", default="SPOT6", choices=[m.value for m in Mission])
    sim.add_argument("--lon", type=float, default=2.35)
    sim.add_argument("--lat", type=float, default=48.85)
    sim.add_argument("--date", help="acquisition time (ISO 8601, UTC); default now")
    sim.add_argument("--size", type=int, default=1000, help="PAN width/height in pixels (1000 to 20000)")
    sim.add_argument("--count", type=int, default=1)
    sim.add_argument(
        "--level",
        choices=["ORTHO", "SENSOR"],
        default="ORTHO",
        help="map-projected tiles, or sensor geometry located by RPCs only",
    )
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--campaign")
    sim.add_argument("--coverage", help="'france': the yearly metropolitan coverage grid (~240 cells)")
    sim.add_argument("--year", type=int, default=datetime.now(UTC).year)
    sim.add_argument("--limit", type=int, help="only the first N coverage cells")
    sim.add_argument("--via", choices=["kafka", "http"], default="kafka")
    sim.add_argument("--ingest-url", default="http://127.0.0.1:8101")
    sim.add_argument("--wait", type=float, default=0, help="wait up to N s for ingest's answer")
    act = sub.add_parser("activity", help="simulated platform activity").add_subparsers(
        dest="command", required=True
    )
    asim = act.add_parser(
        "simulate",
        help="years of DINAMIS activity (organisations, requests, scenes, orders, downloads) as events",
    )
    asim.add_argument("--years", default="2022-2026", help="e.g. 2022-2026, 2025,2026 or 2026")
    asim.add_argument("--organisations", type=int, default=450)
    asim.add_argument("--seed", type=int, default=1, help="same seed, same events and event ids")
    asim.add_argument("--until", help="drop the events after this time (ISO 8601, UTC, or 'now')")
    asim.add_argument("--publish", action="store_true", help="publish on the bus (DINAMIS_KAFKA_*)")
    asim.add_argument("--out", help="write the records (topic, key, headers, value) as JSON lines")
    asim.add_argument(
        "--archive",
        action="store_true",
        help="write the events straight into the reporting's archive (bucket `events`), not on the"
        " bus: the demo's history, which no other service consumes",
    )
    campaign_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.group == "campaign":
        sys.exit(campaign_cli.run(args))
    if args.group == "activity":
        if not 1 <= args.organisations <= 5000:
            parser.error("--organisations must be between 1 and 5000")
        sys.exit(activity(args))
    if args.group == "token":
        sys.exit(token(args))
    if not 64 <= args.size <= 20000:
        parser.error("--size must be between 64 and 20000")
    sys.exit(asyncio.run(simulate(args)))

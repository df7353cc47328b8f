"""`dinamis-reporting-note --year N --out note.pdf`: renders the yearly note from the
archive (the `events` bucket, with the reporting's settings: `DINAMIS_REPORTING_*`
then `DINAMIS_*` variables), in a lake of its own (in memory unless `--lake`: never
the running service's database file, which DuckDB locks)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from dinamis_reporting.archive.store import S3ObjectStore
from dinamis_reporting.indicators.engine import Indicators
from dinamis_reporting.lake import Lake
from dinamis_reporting.note.data import check_year, collect
from dinamis_reporting.note.layout import render
from dinamis_reporting.settings import ReportingSettings
from dinamis_shared.clients import s3_client


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dinamis-reporting-note",
        description="Génère la note « État des lieux du dispositif DINAMIS — année N » (PDF)"
        " à partir de l'archive des événements.",
    )
    parser.add_argument("--year", type=int, required=True, help="l'année de la note")
    parser.add_argument("--out", type=Path, required=True, help="le fichier PDF à écrire")
    parser.add_argument("--lake", default=":memory:", help="base DuckDB du lac (défaut : en mémoire)")
    args = parser.parse_args(argv)
    try:
        check_year(args.year)
    except ValueError:
        parser.error(f"année hors de 2015..{datetime.now(UTC).year + 1} / year out of range: {args.year}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = ReportingSettings()
    store = S3ObjectStore(s3_client(settings), settings.events_bucket)
    lake = Lake(store, args.lake, threads=settings.duckdb_threads, memory_limit=settings.duckdb_memory_limit)
    try:
        loaded = asyncio.run(lake.refresh())
        indicators = Indicators(min_organisations=settings.min_organisations)
        indicators.prepare(lake.con)
        data = collect(lake.cursor(), indicators, args.year)
        pdf = render(data)
    finally:
        lake.con.close()
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_bytes(pdf)
    os.replace(tmp, args.out)
    print(
        f"note {args.year}: {data.state.events} événements ({loaded.loaded} fichiers lus),"
        f" archive {data.state.fingerprint}, {len(pdf)} octets -> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

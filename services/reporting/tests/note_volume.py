"""Times the note on a larger scripted archive (not a test: run it by hand).

    .venv/bin/python services/reporting/tests/note_volume.py [organisations] [users]

Five years (2021-2025) of organisations spread over the five categories, their users,
through the real ArchiveWriter and Lake (in memory); the catalogue of test_note.py's
indicators, plus copies of its users indicator under the contract's other names (11
sections in all, as the full catalogue will have). Prints JSON: events, seconds to
collect the figures, to lay the PDF out, its pages and bytes."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import pypdfium2 as pdfium

from dinamis_reporting.indicators.engine import CONTRACT, Indicators
from dinamis_reporting.lake import Lake
from dinamis_reporting.note import collect, render

spec = importlib.util.spec_from_file_location("test_note", Path(__file__).with_name("test_note.py"))
assert spec and spec.loader
t = importlib.util.module_from_spec(spec)
spec.loader.exec_module(t)
CATEGORIES = ["french-public", "contractor", "french-research", "international-research", "french-private-rd"]


def events(n_orgs: int, n_users: int) -> list:
    rng = random.Random(16)
    out = []
    for i in range(n_orgs):
        year = rng.randint(2021, 2025)
        cat = rng.choice(CATEGORIES)
        out += [
            t.org(f"o{i}", cat, "pending", t.at(year, 1, 5), 1),
            t.org(f"o{i}", cat, "active", t.at(year, 2, 5), 2),
        ]
    for u in range(n_users):
        oid = f"o{rng.randrange(n_orgs)}"
        out.append(t.user(f"u{u}", oid, rng.random() < 0.9, t.at(2025, rng.randint(3, 12), 1), 1))
    return out


def main() -> None:
    n_orgs, n_users = (int(a) for a in (sys.argv[1:3] if len(sys.argv) > 2 else (400, 3000)))
    sql = Path(tempfile.mkdtemp())
    for name in ("base_10_state.sql", "members_organisations.sql"):
        (sql / name).write_text((t.SQL_DIR / name).read_text())
    (sql / "aaa_events.sql").write_text(t.EVENTS_SQL)
    for name in CONTRACT[1:]:
        (sql / f"{name}.sql").write_text(t.USERS_SQL.replace("name: members_users", f"name: {name}"))
    evs = events(n_orgs, n_users)

    async def load() -> Lake:
        lake = Lake(await t.archive(evs), ":memory:")
        await lake.refresh()
        return lake

    lake = asyncio.run(load())
    indicators = Indicators(sql_dir=sql)
    indicators.prepare(lake.con)
    t0 = time.perf_counter()
    data = collect(lake.cursor(), indicators, 2025)
    t1 = time.perf_counter()
    pdf = render(data)
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "events": len(evs),
                "sections": len(data.sections),
                "collect_s": round(t1 - t0, 3),
                "render_s": round(t2 - t1, 3),
                "pages": len(pdfium.PdfDocument(pdf)),
                "bytes": len(pdf),
            }
        )
    )


if __name__ == "__main__":
    main()

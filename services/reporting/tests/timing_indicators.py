"""Rough timing of the indicators (not the benchmark, `bench/reporting` is): the unit
tests' scripted scenario copied N times (identifiers prefixed, years spread over six),
written by the real writer to an in-memory store, loaded into the lake, then every
indicator computed by its first two dimensions.

    .venv/bin/python services/reporting/tests/timing_indicators.py [copies=300]"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from pathlib import Path

from dinamis_reporting.indicators.engine import Query

spec = importlib.util.spec_from_file_location("t", Path(__file__).with_name("test_indicators.py"))
assert spec and spec.loader
T = importlib.util.module_from_spec(spec)
spec.loader.exec_module(T)


async def main(copies: int) -> None:
    world = T.World()
    records = [r for i in range(copies) for r in T.records(prefix=f"p{i}-", year=2020 + 2 * (i % 3))]
    t0 = time.perf_counter()
    await T.ArchiveWriter(world.store).write(records)
    await world.lake.refresh()
    world.indicators.prepare(world.lake.con)
    print(f"events {len(records)}, archived and loaded in {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    for name, indicator in world.indicators.catalogue.items():
        t1 = time.perf_counter()
        world.indicators.compute(world.lake.cursor(), name, Query(by=indicator.dimensions[:2]))
        print(f"  {name}: {time.perf_counter() - t1:.2f} s")
    print(f"every indicator: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))

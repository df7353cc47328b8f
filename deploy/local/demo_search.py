"""Last step of `make up`'s demo: what the catalogue now shows, through its STAC API
(the same calls pystac-client, QGIS or the DINAMIS SDK make)."""

from __future__ import annotations

import sys
import time

from pystac_client import Client

catalog = Client.open("http://127.0.0.1:8102")
deadline = time.monotonic() + 30
for collection in ("spot-6-7-france-2026", "pleiades-neo-ortho"):
    while True:
        items = list(catalog.search(collections=[collection], max_items=500).items())
        if items or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(f"    {collection:<22} {len(items):>4} item(s) searchable", end="")
    if items:
        best = min(items, key=lambda i: i.properties.get("eo:cloud_cover", 100))
        print(
            f"; least cloudy: {best.id} ({best.properties.get('eo:cloud_cover')} %), "
            f"{len(best.assets)} assets",
            end="",
        )
    print()
    if not items:
        sys.exit(f"!! nothing searchable in {collection}")

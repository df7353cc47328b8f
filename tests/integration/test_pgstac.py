"""pgSTAC on the stack's PostgreSQL/PostGIS: a real STAC collection and item (NRCan
SPOT 5, Apache-2.0, tests/fixtures/stac) loaded and found by `pgstac.search`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from dinamis_shared import clients

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stac"


@pytest.fixture
async def conn(settings):
    conn = await clients.pg_connect(settings)
    yield conn
    await conn.close()


async def test_collection_and_item_found_by_search(conn):
    collection = json.loads((FIXTURES / "nrcan-spot5-collection.json").read_text())
    item = json.loads((FIXTURES / "nrcan-spot5-item.json").read_text())
    cid = f"test-spot5-{uuid.uuid4().hex[:8]}"
    collection["id"] = item["collection"] = cid
    await conn.execute("SELECT pgstac.create_collection(%s)", [Jsonb(collection)])
    try:
        await conn.execute("SELECT pgstac.create_item(%s)", [Jsonb(item)])

        async def search(body: dict) -> dict:
            cur = await conn.execute("SELECT pgstac.search(%s)", [Jsonb(body)])
            (result,) = await cur.fetchone()
            return result

        hit = await search(
            {
                "collections": [cid],
                "bbox": [-96.0, 54.5, -95.5, 54.7],
                "datetime": "2007-05-01T00:00:00Z/2007-06-30T00:00:00Z",
            }
        )
        assert [f["id"] for f in hit["features"]] == [item["id"]]
        assert hit["features"][0]["properties"]["datetime"] == "2007-05-31T00:00:00Z"

        elsewhere = await search({"collections": [cid], "bbox": [4.8, 45.7, 5.0, 45.8]})
        assert elsewhere["features"] == []
        other_year = await search(
            {"collections": [cid], "datetime": "2008-01-01T00:00:00Z/2008-12-31T00:00:00Z"}
        )
        assert other_year["features"] == []
        cql = await search(
            {
                "collections": [cid],
                "filter-lang": "cql2-json",
                "filter": {"op": "=", "args": [{"property": "id"}, item["id"]]},
            }
        )
        assert len(cql["features"]) == 1
    finally:
        await conn.execute("SELECT pgstac.delete_collection(%s)", [cid])

"""Indexing `scene-ingested` (service/indexer.py) against a fake of its pgSTAC port,
and the pure rules it relies on (public previews, extents). No server needed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dinamis_catalog.domain.assets import ARCHIVE_HREF, asset_hrefs, with_public_previews
from dinamis_catalog.domain.collections import QUERYABLES, partner_collections
from dinamis_catalog.domain.extent import grown_collection
from dinamis_catalog.service.indexer import Indexer, UnknownCollection
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.events import SceneIngestedV1
from dinamis_testkit.examples import lyon_item

PUBLIC = "https://catalog.example"
THUMB = "s3://archive/pleiades-neo-ortho/2026/06/12/S/v1/thumb.png"


class FakeIndex:
    """pgSTAC in dictionaries: collections by id, items by (collection, id)."""

    def __init__(self, *collections: str) -> None:
        self.collections: dict[str, dict] = {c: {"id": c, "extent": None} for c in collections}
        self.items: dict[tuple[str, str], dict] = {}
        self.queryables: dict[str, tuple] = {}
        self.yearly: set[str] = set()

    async def collection_exists(self, collection_id: str) -> bool:
        return collection_id in self.collections

    async def collection_extent(self, collection_id: str) -> dict | None:
        return (self.collections.get(collection_id) or {}).get("extent")

    async def upsert_collection(self, collection: dict) -> None:
        self.collections[collection["id"]] = collection

    async def partition_by_year(self, collection_id: str) -> None:
        self.yearly.add(collection_id)

    async def upsert_queryable(
        self, name: str, definition: dict, wrapper: str | None, index: str | None
    ) -> None:
        self.queryables[name] = (definition, wrapper, index)

    async def item_version(self, item_id: str, collection: str) -> int:
        item = self.items.get((collection, item_id))
        return int(item["properties"].get("dinamis:version", 0)) if item else 0

    async def upsert_item(self, item: dict) -> None:
        self.items[(item["collection"], item["id"])] = item


def scene(version: int, collection: str = "pleiades-neo-ortho", cloud: float = 10.0) -> Envelope:
    item = lyon_item()
    item["properties"].update({"dinamis:version": version, "eo:cloud_cover": cloud})
    item["assets"]["thumbnail"] = {"href": THUMB, "type": "image/png", "roles": ["thumbnail"]}
    item["collection"] = collection
    event = SceneIngestedV1(
        scene_id=item["id"],
        version=version,
        collection=collection,
        item=item,
        archive_prefix=f"{collection}/x/{item['id']}/v{version}/",
        manifest_sha256="ab" * 32,
    )
    return Envelope(event, f"ce-{version}", "/tests", event.ce_type(), datetime.now(UTC), None, None)


async def test_a_newer_version_replaces_an_older_one_and_a_replay_does_not():
    index = FakeIndex("pleiades-neo-ortho")
    indexer = Indexer(index, PUBLIC)
    await indexer.index(scene(1, cloud=40.0))
    await indexer.index(scene(2, cloud=4.0))
    await indexer.index(scene(1, cloud=40.0))  # replayed later: ignored
    (item,) = index.items.values()
    assert item["properties"]["dinamis:version"] == 2 and item["properties"]["eo:cloud_cover"] == 4.0


async def test_previews_point_at_the_public_route_and_the_archive_stays_private():
    index = FakeIndex("pleiades-neo-ortho")
    await Indexer(index, PUBLIC).index(scene(1))
    (item,) = index.items.values()
    thumb = item["assets"]["thumbnail"]
    assert thumb["href"] == f"{PUBLIC}/previews/pleiades-neo-ortho/{item['id']}/thumbnail"
    assert thumb[ARCHIVE_HREF] == THUMB
    assert item["assets"]["ms"]["href"].startswith("s3://archive/")  # data: unchanged
    assert with_public_previews(item, PUBLIC) == item  # applying it again changes nothing
    assert THUMB in asset_hrefs(item) and thumb["href"] in asset_hrefs(item)


async def test_coverage_collections_are_created_on_the_fly_other_unknown_ones_refused():
    index = FakeIndex()
    await Indexer(index, PUBLIC).index(scene(1, collection="spot-6-7-france-2031"))
    assert "spot-6-7-france-2031" in index.collections and len(index.items) == 1
    assert "spot-6-7-france-2031" in index.yearly
    with pytest.raises(UnknownCollection):
        await Indexer(index, PUBLIC).index(scene(1, collection="no-such-collection"))


async def test_configured_collections_keep_the_extent_grown_from_their_items():
    grown = {"spatial": {"bbox": [[1, 2, 3, 4]]}, "temporal": {"interval": [["2026-01-01T00:00:00Z", None]]}}
    index = FakeIndex()
    index.collections["spot-6-7-ortho"] = {"id": "spot-6-7-ortho", "extent": grown}
    count = await Indexer(index, PUBLIC).ensure_collections([2026])
    assert count == len(index.collections) and index.collections["spot-6-7-ortho"]["extent"] == grown
    partner = partner_collections()[0]
    assert index.collections[partner["id"]]["extent"] == partner["extent"]
    assert set(index.queryables) == set(QUERYABLES)
    # Our collections are partitioned by year, partner ones (items may span years) are not.
    assert "spot-6-7-ortho" in index.yearly and partner["id"] not in index.yearly


def test_the_extent_is_replaced_by_the_first_item_then_grows():
    configured = {"id": "c", "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}}}
    first = {"bbox": [1, 2, 3, 4], "properties": {"datetime": "2026-06-01T10:00:00+02:00"}}
    content = grown_collection(configured, first)
    assert content is not None and content["dinamis:extent_from_items"]
    assert content["extent"] == {
        "spatial": {"bbox": [[1, 2, 3, 4]]},
        "temporal": {"interval": [["2026-06-01T08:00:00.000000Z", "2026-06-01T08:00:00.000000Z"]]},
    }
    inside = {"bbox": [1.5, 2.5, 0, 2.5, 3.0, 0], "properties": {"datetime": "2026-06-01T08:00:00Z"}}
    assert grown_collection(content, inside) is None  # covered already: no write
    later = {
        "bbox": [0, 0, 2, 2],
        "properties": {"start_datetime": "2026-01-01T00:00:00Z", "end_datetime": "2026-07-01T00:00:00Z"},
    }
    wider = grown_collection(content, later)
    assert wider is not None and wider["extent"]["spatial"]["bbox"] == [[0, 0, 3, 4]]
    assert wider["extent"]["temporal"]["interval"] == [
        ["2026-01-01T00:00:00.000000Z", "2026-07-01T00:00:00.000000Z"]
    ]

"""stac-api-validator against the running `dinamis-catalog`: STAC API conformance classes
core, features (ogcapi-features), item-search and filter, offline (schemas from local
copies, see stac_offline.py), on items this test indexes through Kafka."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from stac_api_validator.validations import QueryConfig, validate_api
from stac_validator.stac_validator import StacValidate

from dinamis_testkit.examples import lyon_item
from dinamis_testkit.testing import start_service, stop_service
from tests.integration.scenes import ingest_scene
from tests.integration.stac_offline import SchemaNotVendored, offline_schemas, schema_store
from tests.integration.test_catalog import ingested, publish
from tests.ports import free_ports

PORT, INGEST_PORT = free_ports(2)
API = f"http://127.0.0.1:{PORT}"
COLLECTION = "pleiades-neo-ortho"  # where simulated PNEO4 ortho scenes go
CLASSES = ["core", "features", "item-search", "filter"]
# What the validator logs when it really runs a class's checks (a class it skips logs nothing).
RAN = {
    "core": "Validating STAC API - Core conformance class.",
    "features": "Validating STAC API - Features conformance class.",
    "item-search": "Validating STAC API - Item Search conformance class.",
    "filter": "Validating STAC API - Item Search - Filter Extension conformance class.",
}


def shifted(doc: dict, dx: float, days: int, item_id: str) -> dict:
    """A copy of an ingested item elsewhere and later, under another id."""

    def move(coords):
        return [move(c) for c in coords] if isinstance(coords[0], list) else [coords[0] + dx, coords[1]]

    when = datetime.fromisoformat(doc["properties"]["datetime"].replace("Z", "+00:00")) + timedelta(days=days)
    properties = {**doc["properties"], "datetime": when.isoformat().replace("+00:00", "Z")}
    geometry = {**doc["geometry"], "coordinates": move(doc["geometry"]["coordinates"])}
    bbox = [v + dx if i % 2 == 0 else v for i, v in enumerate(doc["bbox"])]
    return {**doc, "id": item_id, "geometry": geometry, "bbox": bbox, "properties": properties, "links": []}


@pytest.fixture(scope="module")
async def indexed(settings, tmp_path_factory):
    """The catalog with one real scene (through ingest) and five copies of its item."""
    logs = tmp_path_factory.mktemp("conformance")
    env = {"DINAMIS_CATALOG_PUBLIC_URL": API}
    procs = [
        start_service("catalog", PORT, logs, env=env),
        start_service("ingest", INGEST_PORT, logs, env=env),
    ]
    try:
        lon, lat = random.uniform(0.5, 6.5), random.uniform(43.5, 49.0)
        scene = await ingest_scene(
            settings,
            API,
            tmp_path_factory.mktemp("scene"),
            lon,
            lat,
            datetime(2026, 3, 1, 10, 30, tzinfo=UTC),
        )
        copies = [shifted(scene, 0.2 * i, 7 * i, f"{scene['id']}-c{i}") for i in range(1, 6)]
        await publish(settings, *(ingested(d, collection=scene["collection"]) for d in copies))
        docs = [scene, *copies]
        ids = ",".join(d["id"] for d in docs)
        deadline = time.monotonic() + 30
        while True:
            found = httpx.get(f"{API}/search", params={"ids": ids}, timeout=10).json()["features"]
            if len(found) == len(docs) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        assert len(found) == len(docs), "items not indexed in 30 s"
        w, s, e, n = scene["bbox"]
        area = {
            "type": "Polygon",
            "coordinates": [[[w, s], [e + 1.1, s], [e + 1.1, n], [w, n], [w, s]]],
        }
        yield docs, area
    finally:
        for proc in procs:
            stop_service(proc)


def run_validator(geometry: dict) -> tuple[list[str], list[str], list[str]]:
    with offline_schemas() as asked:
        warnings, errors = validate_api(
            root_url=API,
            ccs_to_validate=CLASSES,
            collection=COLLECTION,
            geometry=json.dumps(geometry),
            auth_bearer_token=None,
            auth_query_parameter=None,
            fields_nested_property=None,
            validate_pagination=True,
            query_config=QueryConfig(*[None] * 13),
            transaction_collection=None,
            headers=None,
        )
    return list(warnings), list(errors), asked


def test_stac_api_validator_core_features_item_search_filter(indexed, caplog):
    docs, area = indexed
    caplog.set_level(logging.INFO, logger="stac_api_validator")
    _, errors, asked = run_validator(area)
    assert errors == [], "\n".join(errors)
    logged = {r.getMessage() for r in caplog.records}
    assert {c for c, line in RAN.items() if line in logged} == set(CLASSES)
    # The documents were validated against the schemas (from the local copies): the core
    # ones and every extension our items declare.
    asked = {u.split("#")[0] for u in asked}
    for kind in ("catalog", "collection", "item"):
        assert f"https://schemas.stacspec.org/v1.1.0/{kind}-spec/json-schema/{kind}.json" in asked
    assert set(docs[0]["stac_extensions"]) <= asked


def test_a_schema_without_local_copy_fails_validation_loudly():
    """The offline store never turns a missing schema into a pass."""
    # (without its `collection` field, which STAC 1.1 allows only beside a `collection` link)
    doc = {k: v for k, v in lyon_item().items() if k != "collection"}
    doc["stac_extensions"] = ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"]
    unknown = "https://stac-extensions.github.io/not-vendored/v9.9.9/schema.json"
    with offline_schemas():
        assert StacValidate().validate_dict(doc) is True
        assert StacValidate().validate_dict({**doc, "collection": COLLECTION}) is False
        bad = StacValidate()
        assert bad.validate_dict({**doc, "stac_extensions": [*doc["stac_extensions"], unknown]}) is False
        assert "not-vendored" in json.dumps(bad.message)
    assert unknown not in schema_store()
    with pytest.raises(SchemaNotVendored):
        with offline_schemas():
            from stac_validator.utilities import fetch_and_parse_schema

            fetch_and_parse_schema(unknown)

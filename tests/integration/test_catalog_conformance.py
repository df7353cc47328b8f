"""stac-api-validator against the running `dinamis-catalog`: every conformance class the
landing page advertises, offline (schemas from local copies, see stac_offline.py), on
items this test indexes through Kafka."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
import warnings
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
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
STAC_CLASS = re.compile(r"https://api\.stacspec\.org/v[^/]+/(?P<name>.+)")
# What the validator logs when it really runs a class's checks (a class it skips logs nothing).
RAN = {
    "core": "Validating STAC API - Core conformance class.",
    "collections": "Validating STAC API - Collections conformance class.",
    "features": "Validating STAC API - Features conformance class.",
    "item-search": "Validating STAC API - Item Search conformance class.",
    "item-search#filter": (
        "Validating STAC API - Item Search - Filter Extension - Basic CQL2 conformance class."
    ),
    "item-search#fields": "STAC API - Item Search - Fields extension conformance class found.",
    "item-search#sort": "STAC API - Item Search - Sort extension conformance class found.",
    "item-search#query": "STAC API - Item Search - Query extension conformance class found.",
}
# Classes stac-api-validator 0.6.8 accepts but has no checks for ("is not yet supported"), or
# does not know at all: they are passed to it all the same, and listed here so that a new
# advertised class never goes unnoticed.
NOT_CHECKED_BY_THE_VALIDATOR = {
    "features#fields",
    "features#query",
    "features#sort",
    "collection-search",
    "collection-search#fields",
    "collection-search#filter",
    "collection-search#free-text",
    "collection-search#query",
    "collection-search#sort",
}
# Validator settings for the Query extension, matching the items the fixture indexes: cloud
# cover 5 (the scene) and 10..50 (its copies); platform "pleiades-neo-4"; instruments ["pneo"].
QUERY_CONFIG = QueryConfig(
    query_comparison_field="eo:cloud_cover",
    query_eq_value="10",
    query_neq_value="10",
    query_lt_value="25",
    query_lte_value="20",
    query_gt_value="25",
    query_gte_value="30",
    query_substring_field="platform",
    query_starts_with_value="pleiades",
    query_ends_with_value="neo-4",
    query_contains_value="-neo-",
    query_in_field="instruments",
    query_in_values="pneo,spot",
)


def validator_classes(conforms_to: list[str]) -> set[str]:
    """The validator's name of each STAC API class advertised (`ogcapi-features` is its
    `features`), read from the landing page."""
    names = set()
    for uri in conforms_to:
        match = STAC_CLASS.fullmatch(uri)
        if match:
            names.add(match["name"].replace("ogcapi-features", "features"))
    return names


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
            # Later than the other tests' items in this collection: the validator checks the newest first.
            datetime(2027, 6, 1, 10, 30, tzinfo=UTC),
        )
        copies = [shifted(scene, 0.2 * i, 7 * i, f"{scene['id']}-c{i}") for i in range(1, 6)]
        for i, copy in enumerate(copies, start=1):  # distinct values for the Query extension's checks
            copy["properties"] = {**copy["properties"], "eo:cloud_cover": 10.0 * i}
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


def run_validator(classes: list[str], geometry: dict) -> tuple[list[str], list[str], list[str]]:
    with offline_schemas() as asked:
        warnings, errors = validate_api(
            root_url=API,
            ccs_to_validate=classes,
            collection=COLLECTION,
            geometry=json.dumps(geometry),
            auth_bearer_token=None,
            auth_query_parameter=None,
            fields_nested_property="properties.platform",
            validate_pagination=True,
            query_config=QUERY_CONFIG,
            transaction_collection=None,
            headers=None,
        )
    return list(warnings), list(errors), asked


def test_stac_api_validator_passes_every_advertised_conformance_class(indexed, caplog):
    docs, area = indexed
    conforms_to = httpx.get(f"{API}/", timeout=10).json()["conformsTo"]
    assert conforms_to == httpx.get(f"{API}/conformance", timeout=10).json()["conformsTo"]
    classes = validator_classes(conforms_to)
    assert {"core", "features", "item-search", "item-search#filter", "item-search#query"} <= classes
    caplog.set_level(logging.INFO, logger="stac_api_validator")
    _, errors, asked = run_validator(sorted(classes), area)
    assert errors == [], "\n".join(errors)
    logged = {r.getMessage() for r in caplog.records}
    ran = {c for c, line in RAN.items() if line in logged}
    assert ran == classes - NOT_CHECKED_BY_THE_VALIDATOR, (sorted(classes), sorted(ran))
    # The documents were validated against the schemas (from the local copies): the core
    # ones and every extension our items declare.
    asked = {u.split("#")[0] for u in asked}
    for kind in ("catalog", "collection", "item"):
        assert f"https://schemas.stacspec.org/v1.1.0/{kind}-spec/json-schema/{kind}.json" in asked
    assert set(docs[0]["stac_extensions"]) <= asked


def test_pystac_client_sees_every_search_extension(indexed):
    """pystac-client checks the 1.0.x URIs: no "does not conform to SORT" warning, and the
    Query operators it sends work."""
    docs, _ = indexed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = Client.open(API)
        for name in ("SORT", "FIELDS", "QUERY", "FILTER", "ITEM_SEARCH"):
            assert client.conforms_to(ConformanceClasses.get_by_name(name)), name
        found = list(
            client.search(
                collections=[COLLECTION],
                ids=[d["id"] for d in docs],
                query={"eo:cloud_cover": {"in": [10, 30]}, "platform": {"startsWith": "pleiades"}},
                sortby="-properties.datetime",
                max_items=10,
            ).items()
        )
    assert [i.properties["eo:cloud_cover"] for i in found] == [30.0, 10.0]


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

"""The orders service's AOI refusals and warnings through its HTTP API, against the real
stack (FerretDB, Kafka, the catalogue on PostgreSQL/pgSTAC): the whole world is too
large, an open ring is refused, an AOI far from France is accepted with a warning, and a
product order's clip AOI is checked against the real item's footprint at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dinamis_testkit.examples import lyon_item
from dinamis_testkit.testing import start_service, stop_service
from tests.integration.orders_api import FIELD, Caller, new_member_org, orders_api, square, tasking
from tests.integration.scenes import index_item
from tests.ports import free_ports

CATALOG_PORT, ORDERS_PORT = free_ports(2)
API = orders_api(ORDERS_PORT)
WORLD = {"type": "Polygon", "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]]}
SWAPPED = {"type": "Polygon", "coordinates": [[[y, x] for x, y in FIELD["coordinates"][0]]]}
FRENCH = {"Accept-Language": "fr"}


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("logs")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_CATALOG_PUBLIC_URL": f"http://127.0.0.1:{CATALOG_PORT}",
        "DINAMIS_ORDERS_CATALOG_URL": f"http://127.0.0.1:{CATALOG_PORT}",
        "DINAMIS_ORDERS_PRODUCT_ORDERS_PER_DAY": "2",
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
    }
    catalog = start_service("catalog", CATALOG_PORT, logs, env=env)
    orders = start_service("orders", ORDERS_PORT, logs, env=env)
    yield
    stop_service(orders)
    stop_service(catalog)


@pytest.fixture(scope="module")
def member(keyfile, services) -> Caller:
    operator = Caller.staff(keyfile, api=API)
    return new_member_org(keyfile, operator)[1]


async def catalogued_item(settings, geometry: dict) -> dict:
    """A Pléiades Neo item with this footprint, indexed by the real catalogue."""
    doc = lyon_item()
    doc["id"] = f"ITEM-{uuid.uuid4().hex[:10]}"
    doc["geometry"] = geometry
    xs, ys = zip(*geometry["coordinates"][0], strict=True)
    doc["bbox"] = [min(xs), min(ys), max(xs), max(ys)]
    doc["properties"]["datetime"] = (
        (datetime.now(UTC) - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    )
    await index_item(settings, f"http://127.0.0.1:{CATALOG_PORT}", doc, source="/tests/aoi")
    return doc


def test_the_whole_world_is_refused_as_too_large(member):
    for path in ("/requests/quote", "/requests"):
        r = member.call("POST", path, json=tasking(aoi=WORLD), headers=FRENCH)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "aoi-too-large" and "km²" in r.json()["detail"], r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    # Across 180° and small: still the antimeridian refusal, with its advice.
    strip = {
        "type": "Polygon",
        "coordinates": [[[179.9, 10], [-179.9, 10], [-179.9, 10.2], [179.9, 10.2], [179.9, 10]]],
    }
    r = member.call("POST", "/requests/quote", json=tasking(aoi=strip))
    assert r.status_code == 422 and r.json()["code"] == "aoi-antimeridian", r.text


def test_an_unclosed_ring_is_refused(member):
    ring = FIELD["coordinates"][0][:-1]  # the last position does not repeat the first
    for path in ("/requests/quote", "/requests"):
        r = member.call(
            "POST", path, json=tasking(aoi={"type": "Polygon", "coordinates": [ring]}), headers=FRENCH
        )
        assert r.status_code == 422 and r.json()["code"] == "aoi-ring-not-closed", r.text
        assert "RFC 7946" in r.json()["detail"]
    # Closed, the same ring is accepted.
    r = member.call(
        "POST", "/requests/quote", json=tasking(aoi={"type": "Polygon", "coordinates": [[*ring, ring[0]]]})
    )
    assert r.status_code == 200, r.text


def test_an_aoi_far_from_france_is_accepted_with_a_warning(member):
    quote = member.call("POST", "/requests/quote", json=tasking(aoi=SWAPPED))
    assert quote.status_code == 200, quote.text
    codes = [w["code"] for w in quote.json()["warnings"]]
    assert "aoi-outside-france" in codes, quote.text
    warning = next(w for w in quote.json()["warnings"] if w["code"] == "aoi-outside-france")
    assert "inversées" in warning["message"] and "swapped" in warning["message_en"]
    created = member.call("POST", "/requests", json=tasking(aoi=SWAPPED))
    assert created.status_code == 201, created.text
    assert [w["code"] for w in created.json()["aoi_warnings"]] == ["aoi-outside-france"]
    stored = member.call("GET", f"/requests/{created.json()['request_id']}").json()
    assert [w["code"] for w in stored["aoi_warnings"]] == ["aoi-outside-france"]
    # The same field the right way round: no such warning.
    fine = member.call("POST", "/requests/quote", json=tasking(aoi=FIELD))
    assert fine.status_code == 200 and "aoi-outside-france" not in [
        w["code"] for w in fine.json()["warnings"]
    ]


async def test_a_product_order_clip_aoi_is_checked_against_the_footprint_at_once(keyfile, services, settings):
    _referent, member = new_member_org(keyfile, Caller.staff(keyfile, api=API))
    lon, lat = 2.0 + (uuid.uuid4().int % 500) * 0.001, 47.0
    doc = await catalogued_item(settings, square(lon, lat, 0.05))
    items = [{"collection": "pleiades-neo-ortho", "item_id": doc["id"]}]
    refusals = [
        (square(lon + 1.0, lat, 0.02), "aoi-outside-footprint"),  # 75 km away
        (square(lon + 0.04, lat + 0.01, 0.00001), "aoi-too-small"),  # about 1 m²
    ]
    for n in range(6):  # more than the daily slots (2): a refusal never spends one
        aoi, code = refusals[n % 2]
        r = member.call("POST", "/product-orders", json={"items": items, "aoi": aoi}, headers=FRENCH)
        assert r.status_code == 422 and r.json()["code"] == code, r.text
        assert doc["id"] in r.json()["detail"] or code == "aoi-too-small"
    partly = member.call(
        "POST", "/product-orders", json={"items": items, "aoi": square(lon + 0.04, lat + 0.01, 0.02)}
    )
    assert partly.status_code == 201, partly.text
    [warning] = partly.json()["warnings"]
    assert warning["code"] == "aoi-partly-outside-footprint" and "50%" in warning["message"], warning
    inside = member.call(
        "POST", "/product-orders", json={"items": items, "aoi": square(lon + 0.01, lat + 0.01, 0.02)}
    )
    assert inside.status_code == 201 and inside.json()["warnings"] == [], inside.text
    third = member.call("POST", "/product-orders", json={"items": items})
    assert third.status_code == 429 and third.json()["code"] == "daily-limit", third.text

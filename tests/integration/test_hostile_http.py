"""Hostile HTTP input against the running orders, notify, delivery and ingest services
(the catalogue's corpus is test_catalog_hostile.py): strings (very long, control
characters, RTL and emoji, MongoDB operators where text is expected, path traversal and
over-long ids), numbers (negative, huge, float or bool where an integer is expected),
headers (wrong content type, huge Accept-Language, duplicated or malformed credentials),
paths (unknown, trailing and double slashes, encoded) and AOIs (wrong GeoJSON types,
self-intersecting, too many vertices, empty, 3D, Feature instead of geometry, nested
junk). Each answers its 4xx as an RFC 9457 problem with a stable `code` — or, for the
few hostile-looking inputs that are legitimate, is accepted — within 5 s, never a 5xx,
and the same client's next valid request still succeeds. Real credentials: tokens
signed with the module's key, members and staff in the orders service's records."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dinamis_shared.auth import ensure_local_signing_key, mint_token
from dinamis_shared.signing import signature
from dinamis_testkit.testing import running_services
from tests.integration.hostile_cases import (
    CONTROL,
    HUGE,
    LONG_ID,
    NOSQL,
    NOSQL_NE,
    PROBLEM,
    RTL_EMOJI,
    SLOWEST_S,
    TRAVERSAL,
    Case,
    polygon,
    ring,
)
from tests.integration.orders_api import FIELD, Caller, new_member_org, tasking, uid
from tests.ports import free_ports

pytestmark = pytest.mark.integration

ORDERS, NOTIFY, DELIVERY, INGEST, CATALOG = free_ports(5)
BASE = {
    "orders": f"http://127.0.0.1:{ORDERS}",
    "notify": f"http://127.0.0.1:{NOTIFY}",
    "delivery": f"http://127.0.0.1:{DELIVERY}",
    "ingest": f"http://127.0.0.1:{INGEST}",
}
SECRET = "hostile-supplier-secret"
# A valid request on each service, sent on the same client after every case.
FOLLOW_UP = {
    "orders": ("GET", "/v1/me", 200),
    "notify": ("GET", "/v1/preferences", 200),
    "delivery": ("GET", "/orders/ord-hostile-none/products", 404),  # a valid question: no such order
    "ingest": ("GET", "/readyz", 200),
}

QUOTE = "/v1/requests/quote"


def draft(**changes: Any) -> dict:
    """A valid tasking request over FIELD, with `changes` (a value None removes the field)."""
    body = {**tasking(), **changes}
    return {k: v for k, v in body.items() if v is not None}


def aoi_case(name: str, aoi: Any, status: int, code: str | None) -> Case:
    return Case(f"aoi {name}", "orders", "POST", QUOTE, status, code, body=draft(aoi=aoi))


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[3.0, 45.7], [3.2, 45.8], [3.2, 45.7], [3.0, 45.8], [3.0, 45.7]]],
}
MANY_VERTICES = {
    "type": "Polygon",
    "coordinates": [
        [[3.05 + 0.09 * i / 10_001, 45.75 + (0.0001 if i % 2 else 0)] for i in range(10_001)]
        + [[3.14, 45.80], [3.05, 45.80], [3.05, 45.75]]
    ],
}
MANY_PARTS = {
    "type": "MultiPolygon",
    "coordinates": [[ring(3.0 + i * 0.002, 45.7, 0.001)] for i in range(101)],
}
FIELD_3D = {"type": "Polygon", "coordinates": [[[*p, 350.0] for p in FIELD["coordinates"][0]]]}
LAMBERT_93 = {"type": "Polygon", "coordinates": [ring(700_000, 6_600_000, 5_000)]}

AOI_CASES = [
    aoi_case("point", {"type": "Point", "coordinates": [3.1, 45.77]}, 422, "aoi-type"),
    aoi_case(
        "linestring", {"type": "LineString", "coordinates": [[3.05, 45.75], [3.1, 45.8]]}, 422, "aoi-type"
    ),
    aoi_case(
        "feature instead of geometry",
        {"type": "Feature", "geometry": FIELD, "properties": {}},
        422,
        "aoi-type",
    ),
    aoi_case("feature collection", {"type": "FeatureCollection", "features": []}, 422, "aoi-type"),
    aoi_case("geometry collection", {"type": "GeometryCollection", "geometries": [FIELD]}, 422, "aoi-type"),
    aoi_case("type lowercase", {**FIELD, "type": "polygon"}, 422, "aoi-type"),
    aoi_case("type missing", {"coordinates": FIELD["coordinates"]}, 422, "aoi-type"),
    aoi_case("type is an operator", {**FIELD, "type": NOSQL}, 422, "aoi-type"),
    aoi_case("a string", json.dumps(FIELD), 422, "invalid-request"),
    aoi_case("null", None, 422, "invalid-request"),
    aoi_case("a list", [FIELD], 422, "invalid-request"),
    aoi_case("empty coordinates", {"type": "Polygon", "coordinates": []}, 422, "invalid-aoi"),
    aoi_case("empty ring", {"type": "Polygon", "coordinates": [[]]}, 422, "invalid-aoi"),
    aoi_case("coordinates missing", {"type": "Polygon"}, 422, "invalid-aoi"),
    aoi_case("coordinates an operator", {"type": "Polygon", "coordinates": NOSQL}, 422, "invalid-aoi"),
    aoi_case(
        "coordinates strings", {"type": "Polygon", "coordinates": [[["3", "45"]] * 4]}, 422, "invalid-aoi"
    ),
    aoi_case(
        "coordinates booleans", {"type": "Polygon", "coordinates": [[[True, False]] * 4]}, 422, "invalid-aoi"
    ),
    aoi_case(
        "nested junk", {"type": "Polygon", "coordinates": [[[[[[[3.05, 45.75]]]]]]]}, 422, "invalid-aoi"
    ),
    aoi_case(
        "ring of two positions",
        {"type": "Polygon", "coordinates": [[[3.05, 45.75], [3.05, 45.75]]]},
        422,
        "invalid-aoi",
    ),
    aoi_case(
        "ring not closed",
        {"type": "Polygon", "coordinates": [ring(3.05, 45.75, 0.05)[:-1]]},
        422,
        "aoi-ring-not-closed",
    ),
    aoi_case("too many vertices", MANY_VERTICES, 422, "aoi-too-complex"),
    aoi_case("multipolygon of 101 parts", MANY_PARTS, 422, "aoi-too-complex"),
    aoi_case("longitude 200", polygon(199.0, 45.0, 0.05), 422, "aoi-crs"),
    aoi_case("lambert-93 metres", LAMBERT_93, 422, "aoi-crs"),
    aoi_case(
        "huge coordinate",
        {"type": "Polygon", "coordinates": [[[1e300, 45], [3, 45], [3, 46], [1e300, 45]]]},
        422,
        "aoi-crs",
    ),
    aoi_case(
        "across the antimeridian",
        {
            "type": "Polygon",
            "coordinates": [[[179.9, -17], [-179.9, -17], [-179.9, -16.9], [179.9, -16.9], [179.9, -17]]],
        },
        422,
        "aoi-antimeridian",
    ),
    aoi_case("one square metre", polygon(3.05, 45.75, 0.00001), 422, "aoi-too-small"),
    aoi_case(
        "a point drawn as a ring",
        {"type": "Polygon", "coordinates": [[[3.05, 45.75]] * 4]},
        422,
        "invalid-aoi",
    ),
    # Hostile-looking but legitimate: accepted (a self-intersecting ring is repaired, with a warning).
    aoi_case("self-intersecting bow tie", BOWTIE, 200, "aoi-repaired"),
    aoi_case("3D coordinates", FIELD_3D, 200, None),
    aoi_case(
        "multipolygon",
        {"type": "MultiPolygon", "coordinates": [FIELD["coordinates"], [ring(3.2, 45.75, 0.05)]]},
        200,
        None,
    ),
]

ORDERS_CASES = [
    # strings
    Case(
        "title over 200 characters",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        body=draft(title="x" * 201),
    ),
    Case("title of blanks", "orders", "POST", QUOTE, 422, "invalid-request", body=draft(title="      ")),
    Case("title an operator", "orders", "POST", QUOTE, 422, "invalid-request", body=draft(title=NOSQL)),
    Case(
        "justification of 1 MiB",
        "orders",
        "POST",
        QUOTE,
        413,
        "body-too-large",
        body=draft(justification="é" * 600_000),
    ),
    Case(
        "sensor family an operator",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        body=draft(sensor_family=NOSQL_NE),
    ),
    Case("kind a list", "orders", "POST", QUOTE, 422, "invalid-request", body=draft(kind=["tasking"])),
    Case(
        "unknown field",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        body=draft(organisation_id="dinamis"),
    ),
    Case(
        "scene ids traversal",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        body=draft(kind="archive", supplier_scene_ids=["../../etc"]),
    ),
    Case("title RTL and emoji", "orders", "POST", QUOTE, 200, None, body=draft(title=RTL_EMOJI)),
    Case(
        "justification control characters",
        "orders",
        "POST",
        QUOTE,
        200,
        None,
        body=draft(justification="Haies " + CONTROL + " bocage ANR"),
    ),
    Case("request id traversal", "orders", "GET", f"/v1/requests/{TRAVERSAL}", 404, "not-found"),
    Case("request id over 200", "orders", "GET", f"/v1/requests/{LONG_ID}", 422, "invalid-request"),
    Case("request id 8 KiB", "orders", "GET", f"/v1/requests/{'r' * 8192}", 422, "invalid-request"),
    Case(
        "request id an operator",
        "orders",
        "GET",
        "/v1/requests/%7B%22%24gt%22%3A%22%22%7D",
        422,
        "invalid-request",
    ),
    Case("request id emoji", "orders", "GET", "/v1/requests/%F0%9F%9B%B0", 422, "invalid-request"),
    Case("request id not utf-8", "orders", "GET", "/v1/requests/%ff%fe", 422, "invalid-request"),
    Case("organisation id with a dot-dot", "orders", "GET", "/v1/organisations/..", 404, "not-found"),
    Case(
        "status filter an operator",
        "orders",
        "GET",
        "/v1/requests",
        422,
        "invalid-request",
        params={"status": '{"$ne": null}'},
    ),
    Case(
        "action unknown",
        "orders",
        "POST",
        "/v1/requests/req-none/actions",
        422,
        "invalid-request",
        body={"action": "drop_table"},
    ),
    Case(
        "api key name 1000 characters",
        "orders",
        "POST",
        "/v1/api-keys",
        422,
        "invalid-request",
        body={"name": "k" * 1000},
    ),
    Case(
        "api key name an operator",
        "orders",
        "POST",
        "/v1/api-keys",
        422,
        "invalid-request",
        body={"name": NOSQL},
    ),
    Case(
        "item ids operators",
        "orders",
        "POST",
        "/v1/access/items",
        422,
        "invalid-request",
        body={"item_ids": [NOSQL]},
    ),
    Case(
        "item ids 1001",
        "orders",
        "POST",
        "/v1/access/items",
        422,
        "invalid-request",
        body={"item_ids": ["i"] * 1001},
    ),
    Case(
        "application id traversal",
        "orders",
        "POST",
        "/v1/organisations",
        422,
        "invalid-request",
        auth="newcomer",
        body={"organisation_id": "../../admin", "name": "x"},
    ),
    Case(
        "application name 100 KiB",
        "orders",
        "POST",
        "/v1/organisations",
        422,
        "invalid-request",
        auth="newcomer",
        body={"name": "n" * 100_000},
    ),
    Case(
        "invitation id over 200",
        "orders",
        "POST",
        f"/v1/invitations/{LONG_ID}/accept",
        422,
        "invalid-request",
        auth="newcomer",
        body={},
    ),
    Case(
        "product order no items",
        "orders",
        "POST",
        "/v1/product-orders",
        422,
        "invalid-request",
        body={"items": []},
    ),
    Case(
        "product order items an operator",
        "orders",
        "POST",
        "/v1/product-orders",
        422,
        "invalid-request",
        body={"items": NOSQL},
    ),
    # numbers
    Case(
        "cloud cover negative",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        body=draft(max_cloud_cover=-1),
    ),
    Case(
        "cloud cover huge", "orders", "POST", QUOTE, 422, "invalid-request", body=draft(max_cloud_cover=1e308)
    ),
    Case(
        "cloud cover beyond a double",
        "orders",
        "POST",
        QUOTE,
        400,
        "non-finite-number",
        raw=json.dumps(draft()).replace('"kind"', f'"max_cloud_cover": {HUGE}, "kind"').encode(),
    ),
    Case(
        "cloud cover a string",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        body=draft(max_cloud_cover="beaucoup"),
    ),
    # pydantic's lax mode reads `true` as 1 where a number is expected: accepted, not an error
    Case("incidence a bool", "orders", "POST", QUOTE, 200, None, body=draft(max_incidence_deg=True)),
    Case("priority a number", "orders", "POST", QUOTE, 422, "invalid-request", body=draft(priority=99)),
    Case(
        "window start not a date",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        body=draft(window={"start": "hier", "end": "demain"}),
    ),
    Case(
        "window year 99999",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        body=draft(window={"start": "2026-01-01T00:00:00Z", "end": "99999-01-01T00:00:00Z"}),
    ),
    Case(
        "window reversed",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        body=draft(window={"start": "2030-02-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"}),
    ),
    Case("limit negative", "orders", "GET", "/v1/requests", 422, "invalid-request", params={"limit": "-1"}),
    Case("limit a float", "orders", "GET", "/v1/requests", 422, "invalid-request", params={"limit": "1.5"}),
    Case("limit a bool", "orders", "GET", "/v1/requests", 422, "invalid-request", params={"limit": "true"}),
    Case(
        "limit 10^30",
        "orders",
        "GET",
        "/v1/requests",
        422,
        "invalid-request",
        params={"limit": "1" + "0" * 30},
    ),
    Case(
        "offset over its bound",
        "orders",
        "GET",
        "/v1/requests",
        422,
        "invalid-request",
        params={"offset": "100001"},
    ),
    Case(
        "quota km2 a string",
        "orders",
        "POST",
        "/v1/quotas/org-none/pleiades/2026",
        422,
        "invalid-request",
        auth="staff",
        body={"km2": "lots", "reason": "test"},
    ),
    Case(
        "quota km2 a bool",
        "orders",
        "POST",
        "/v1/quotas/org-none/pleiades/2026",
        404,
        "not-found",
        auth="staff",
        body={"km2": True, "reason": "test"},
    ),
    Case(
        "quota period Q5",
        "orders",
        "POST",
        "/v1/quotas/org-none/pleiades/2026-Q5",
        422,
        "invalid-request",
        auth="staff",
        body={"km2": 1, "reason": "test"},
    ),
    Case("quota family unknown", "orders", "GET", "/v1/quotas/org-none/landsat/2026", 422, "invalid-request"),
    # bodies and headers
    Case("body a list", "orders", "POST", QUOTE, 422, "invalid-request", raw=b"[1, 2]"),
    Case("body a string", "orders", "POST", QUOTE, 422, "invalid-request", raw=b'"tasking"'),
    Case("body empty", "orders", "POST", QUOTE, 422, "invalid-request", raw=b""),
    Case("body truncated", "orders", "POST", QUOTE, 400, "invalid-json", raw=b'{"kind": "tas'),
    Case(
        "body nested 100000 deep",
        "orders",
        "POST",
        QUOTE,
        400,
        "invalid-json",
        raw=b"[" * 100_000 + b"]" * 100_000,
    ),
    Case("body not utf-8", "orders", "POST", QUOTE, 400, "invalid-character", raw=b'{"title": "\xff\xfe"}'),
    Case(
        "content type text/plain",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        raw=json.dumps(draft()).encode(),
        content_type="text/plain",
    ),
    Case(
        "content type xml",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        raw=b"<draft><kind>tasking</kind></draft>",
        content_type="application/xml",
    ),
    Case(
        "content type form",
        "orders",
        "POST",
        QUOTE,
        422,
        "invalid-request",
        raw=b"kind=tasking&title=x",
        content_type="application/x-www-form-urlencoded",
    ),
    Case(
        "accept-language 8 KiB",
        "orders",
        "GET",
        f"/v1/requests/{LONG_ID}",
        422,
        "invalid-request",
        headers=(("Accept-Language", "fr;q=0.1, " * 800 + "en"),),
    ),
    Case("no credentials", "orders", "GET", "/v1/me", 401, "unauthenticated", auth="none"),
    Case(
        "bearer without token",
        "orders",
        "GET",
        "/v1/me",
        401,
        "invalid-token",
        auth="none",
        headers=(("Authorization", "Bearer"),),
    ),
    Case(
        "basic scheme",
        "orders",
        "GET",
        "/v1/me",
        401,
        "invalid-token",
        auth="none",
        headers=(("Authorization", "Basic YWRtaW46YWRtaW4="),),
    ),
    Case(
        "bearer garbage",
        "orders",
        "GET",
        "/v1/me",
        401,
        "invalid-token",
        auth="none",
        headers=(("Authorization", "Bearer a.b.c"),),
    ),
    Case(
        "bearer 8 KiB",
        "orders",
        "GET",
        "/v1/me",
        401,
        "invalid-token",
        auth="none",
        headers=(("Authorization", "Bearer " + "x" * 8192),),
    ),
    Case(
        "bearer alg none",
        "orders",
        "GET",
        "/v1/me",
        401,
        "invalid-token",
        auth="none",
        headers=(("Authorization", "Bearer {none}"),),
    ),
    Case(
        "bearer of another key",
        "orders",
        "GET",
        "/v1/me",
        401,
        "invalid-token",
        auth="none",
        headers=(("Authorization", "Bearer {foreign}"),),
    ),
    Case(
        "bearer expired",
        "orders",
        "GET",
        "/v1/me",
        401,
        "token-expired",
        auth="none",
        headers=(("Authorization", "Bearer {expired}"),),
    ),
    Case(
        "bearer tampered",
        "orders",
        "GET",
        "/v1/me",
        401,
        "invalid-token",
        auth="none",
        headers=(("Authorization", "Bearer {tampered}"),),
    ),
    Case(
        "authorization twice, garbage first",
        "orders",
        "GET",
        "/v1/me",
        400,
        "duplicate-header",
        auth="none",
        headers=(("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer {member}")),
    ),
    Case(
        "authorization twice, valid first",
        "orders",
        "GET",
        "/v1/me",
        400,
        "duplicate-header",
        auth="none",
        headers=(("Authorization", "Bearer {member}"), ("Authorization", "Bearer a.b.c")),
    ),
    Case(
        "api key twice",
        "orders",
        "GET",
        "/v1/me",
        400,
        "duplicate-header",
        auth="none",
        headers=(("access-key", "a"), ("secret-key", "s"), ("Access-Key", "b")),
    ),
    Case(
        "api key over 200 characters",
        "orders",
        "GET",
        "/v1/me",
        401,
        "invalid-api-key",
        auth="none",
        headers=(("access-key", "k" * 201), ("secret-key", "s")),
    ),
    Case(
        "api key unknown",
        "orders",
        "GET",
        "/v1/me",
        401,
        "invalid-api-key",
        auth="none",
        headers=(("access-key", "' OR 1=1 --"), ("secret-key", '{"$gt": ""}')),
    ),
    # paths
    Case("unknown route", "orders", "GET", "/v1/nope", 404, "not-found"),
    Case("double slash", "orders", "GET", "//v1/me", 404, "not-found"),
    Case("encoded slash", "orders", "GET", "/v1%2Fme", 200, None),  # the server decodes %2F: /v1/me
    Case("method not allowed", "orders", "DELETE", "/v1/me", 405, "method-not-allowed", content_type=None),
    Case("patch a collection", "orders", "PATCH", "/v1/requests", 405, "method-not-allowed", body={}),
    Case("trailing slash redirects", "orders", "GET", "/v1/me/", 307, None),
    Case("encoded letters", "orders", "GET", "/v1/%6De", 200, None),
    *AOI_CASES,
]

NOTIFY_CASES = [
    Case(
        "preferences email an operator",
        "notify",
        "PUT",
        "/v1/preferences",
        422,
        "invalid-request",
        body={"email": NOSQL},
    ),
    Case(
        "preferences unknown kind",
        "notify",
        "PUT",
        "/v1/preferences",
        422,
        "invalid-request",
        body={"email": {"tout": True}},
    ),
    Case(
        "preferences digest a string",
        "notify",
        "PUT",
        "/v1/preferences",
        422,
        "invalid-request",
        body={"digest": "peut-être"},
    ),
    Case(
        "preferences digest a number",
        "notify",
        "PUT",
        "/v1/preferences",
        422,
        "invalid-request",
        body={"digest": 2},
    ),
    Case(
        "preferences language de",
        "notify",
        "PUT",
        "/v1/preferences",
        422,
        "invalid-request",
        body={"language": "de"},
    ),
    Case(
        "preferences language an operator",
        "notify",
        "PUT",
        "/v1/preferences",
        422,
        "invalid-request",
        body={"language": NOSQL_NE},
    ),
    Case("preferences a list", "notify", "PUT", "/v1/preferences", 422, "invalid-request", raw=b"[]"),
    Case(
        "preferences unknown field",
        "notify",
        "PUT",
        "/v1/preferences",
        422,
        "invalid-request",
        body={"admin": True},
    ),
    Case(
        "notifications limit 0",
        "notify",
        "GET",
        "/v1/notifications",
        422,
        "invalid-request",
        params={"limit": "0"},
    ),
    Case(
        "notifications limit negative",
        "notify",
        "GET",
        "/v1/notifications",
        422,
        "invalid-request",
        params={"limit": "-5"},
    ),
    Case(
        "notifications limit text",
        "notify",
        "GET",
        "/v1/notifications",
        422,
        "invalid-request",
        params={"limit": "abc"},
    ),
    Case(
        "notifications limit 10^30",
        "notify",
        "GET",
        "/v1/notifications",
        422,
        "invalid-request",
        params={"limit": "1" + "0" * 30},
    ),
    Case(
        "webhook url javascript",
        "notify",
        "POST",
        "/v1/webhooks",
        422,
        "webhook-target-refused",
        body={"url": "javascript:alert(1)"},
    ),
    Case(
        "webhook url file",
        "notify",
        "POST",
        "/v1/webhooks",
        422,
        "webhook-target-refused",
        body={"url": "file:///etc/passwd"},
    ),
    Case(
        "webhook url 3000 characters",
        "notify",
        "POST",
        "/v1/webhooks",
        422,
        "invalid-request",
        body={"url": "http://127.0.0.1/" + "a" * 3000},
    ),
    Case(
        "webhook url an operator",
        "notify",
        "POST",
        "/v1/webhooks",
        422,
        "invalid-request",
        body={"url": NOSQL},
    ),
    Case(
        "webhook event type unknown",
        "notify",
        "POST",
        "/v1/webhooks",
        422,
        "invalid-request",
        body={"url": "http://127.0.0.1:9/h", "event_types": ["*"]},
    ),
    Case(
        "webhook 21 event types",
        "notify",
        "POST",
        "/v1/webhooks",
        422,
        "invalid-request",
        body={"url": "http://127.0.0.1:9/h", "event_types": ["product-ready"] * 21},
    ),
    Case(
        "webhook description 201",
        "notify",
        "POST",
        "/v1/webhooks",
        422,
        "invalid-request",
        body={"url": "http://127.0.0.1:9/h", "description": "d" * 201},
    ),
    Case(
        "webhook with its own secret",
        "notify",
        "POST",
        "/v1/webhooks",
        422,
        "invalid-request",
        body={"url": "http://127.0.0.1:9/h", "secret": "mine"},
    ),
    Case(
        "webhook operations feed as a member",
        "notify",
        "POST",
        "/v1/webhooks",
        403,
        "forbidden",
        body={"url": "http://127.0.0.1:9/h", "feed": "operations"},
    ),
    Case("webhook id traversal", "notify", "GET", f"/v1/webhooks/{TRAVERSAL}", 404, "not-found"),
    Case("webhook id over 200", "notify", "GET", f"/v1/webhooks/{LONG_ID}", 404, "not-found"),
    Case(
        "webhook id an operator", "notify", "GET", "/v1/webhooks/%7B%22%24gt%22%3A%22%22%7D", 404, "not-found"
    ),
    Case(
        "webhook delete unknown",
        "notify",
        "DELETE",
        "/v1/webhooks/wh-none",
        404,
        "not-found",
        content_type=None,
    ),
    Case(
        "webhook deliveries status unknown",
        "notify",
        "GET",
        "/v1/webhooks/wh-none/deliveries",
        422,
        "invalid-request",
        params={"status": "all"},
    ),
    Case(
        "stream last event id negative",
        "notify",
        "GET",
        "/events/stream",
        400,
        "bad-last-event-id",
        params={"last_event_id": "-1"},
    ),
    Case(
        "stream last event id huge",
        "notify",
        "GET",
        "/events/stream",
        400,
        "bad-last-event-id",
        headers=(("Last-Event-ID", "9" * 40),),
    ),
    Case(
        "stream last event id an operator",
        "notify",
        "GET",
        "/events/stream",
        400,
        "bad-last-event-id",
        headers=(("Last-Event-ID", '{"$gt": ""}'),),
    ),
    Case("no credentials", "notify", "GET", "/v1/preferences", 401, "unauthenticated", auth="none"),
    Case(
        "bearer garbage",
        "notify",
        "GET",
        "/v1/preferences",
        401,
        "invalid-token",
        auth="none",
        headers=(("Authorization", "Bearer a.b.c"),),
    ),
    Case(
        "bearer expired",
        "notify",
        "GET",
        "/v1/preferences",
        401,
        "token-expired",
        auth="none",
        headers=(("Authorization", "Bearer {expired}"),),
    ),
    Case(
        "api key injection",
        "notify",
        "GET",
        "/v1/preferences",
        401,
        "invalid-api-key",
        auth="none",
        headers=(("access-key", "' OR 1=1 --"), ("secret-key", "x")),
    ),
    Case(
        "authorization twice",
        "notify",
        "GET",
        "/v1/preferences",
        400,
        "duplicate-header",
        auth="none",
        headers=(("Authorization", "Bearer {member}"), ("Authorization", "Bearer {member}")),
    ),
    Case("body truncated", "notify", "PUT", "/v1/preferences", 400, "invalid-json", raw=b'{"digest": tr'),
    Case(
        "content type text/plain",
        "notify",
        "PUT",
        "/v1/preferences",
        422,
        "invalid-request",
        raw=b'{"digest": true}',
        content_type="text/plain",
    ),
    Case(
        "body over 1 MiB",
        "notify",
        "POST",
        "/v1/webhooks",
        413,
        "body-too-large",
        body={"url": "http://127.0.0.1:9/h", "description": "d" * 1_100_000},
    ),
    Case("unknown route", "notify", "GET", "/v1/nope", 404, "not-found"),
    Case("double slash", "notify", "GET", "//v1/preferences", 404, "not-found"),
    Case("method not allowed", "notify", "PATCH", "/v1/preferences", 405, "method-not-allowed", body={}),
    Case(
        "preferences RTL and emoji ignored",
        "notify",
        "PUT",
        "/v1/preferences",
        422,
        "invalid-request",
        body={"language": RTL_EMOJI},
    ),
]

DELIVERY_CASES = [
    Case("download id traversal", "delivery", "GET", f"/downloads/{TRAVERSAL}", 404, "not-found"),
    Case("download id over 200", "delivery", "GET", f"/downloads/{LONG_ID}", 422, "invalid-request"),
    Case(
        "download id an operator",
        "delivery",
        "GET",
        "/downloads/%7B%22%24gt%22%3A%22%22%7D",
        422,
        "invalid-request",
    ),
    Case("download id emoji", "delivery", "GET", "/downloads/%F0%9F%9B%B0", 422, "invalid-request"),
    Case("download id control character", "delivery", "GET", "/downloads/p%0A1", 422, "invalid-request"),
    Case("download unknown", "delivery", "GET", "/downloads/p-hostile-none", 404, "product-not-found"),
    Case("order id traversal", "delivery", "GET", f"/orders/{TRAVERSAL}/products", 404, "not-found"),
    Case("order id 8 KiB", "delivery", "GET", f"/orders/{'o' * 8192}/products", 422, "invalid-request"),
    Case("order id with spaces", "delivery", "GET", "/orders/ord%20x/products", 422, "invalid-request"),
    Case(
        "metalink of unknown order",
        "delivery",
        "GET",
        "/orders/ord-hostile-none/products.meta4",
        404,
        "order-not-found",
    ),
    Case(
        "metalink id an operator",
        "delivery",
        "GET",
        "/orders/%24where/products.meta4",
        422,
        "invalid-request",
    ),
    Case("download posted", "delivery", "POST", "/downloads/p-1", 405, "method-not-allowed", body={}),
    Case("unknown route", "delivery", "GET", "/nope", 404, "not-found"),
    Case("double slash", "delivery", "GET", "//orders/ord-1/products", 404, "not-found"),
    Case("no credentials", "delivery", "GET", "/orders/ord-1/products", 401, "unauthenticated", auth="none"),
    Case(
        "bearer garbage",
        "delivery",
        "GET",
        "/orders/ord-1/products",
        401,
        "invalid-token",
        auth="none",
        headers=(("Authorization", "Bearer a.b.c"),),
    ),
    Case(
        "bearer of another key",
        "delivery",
        "GET",
        "/orders/ord-1/products",
        401,
        "invalid-token",
        auth="none",
        headers=(("Authorization", "Bearer {foreign}"),),
    ),
    Case(
        "api key injection",
        "delivery",
        "GET",
        "/orders/ord-1/products",
        401,
        "invalid-api-key",
        auth="none",
        headers=(("access-key", '{"$gt": ""}'), ("secret-key", "x")),
    ),
    Case(
        "authorization twice",
        "delivery",
        "GET",
        "/orders/ord-1/products",
        400,
        "duplicate-header",
        auth="none",
        headers=(("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer {member}")),
    ),
]

PUSH = "/v1/suppliers/airbus/deliveries"


def acquired(**changes: Any) -> dict:
    """A scene-acquired body, with `changes` (a value None removes the field)."""
    body = {
        "scene_id": "PNEO4-20260612103104-HOSTILE",
        "supplier": "airbus",
        "mission": "PNEO4",
        "supplier_product_id": "HOSTILE",
        "staging": {"bucket": "staging", "prefix": "airbus/hostile/"},
        "delivered_at": "2026-06-12T10:31:04Z",
        **changes,
    }
    return {k: v for k, v in body.items() if v is not None}


INGEST_CASES = [
    Case("unsigned", "ingest", "POST", PUSH, 401, "unauthenticated", auth="none", body=acquired()),
    Case(
        "timestamp text",
        "ingest",
        "POST",
        PUSH,
        401,
        "bad-timestamp",
        auth="none",
        body=acquired(),
        headers=(("X-Dinamis-Timestamp", "hier"), ("X-Dinamis-Signature", "sha256=00")),
    ),
    Case(
        "timestamp a float",
        "ingest",
        "POST",
        PUSH,
        401,
        "bad-timestamp",
        auth="none",
        body=acquired(),
        headers=(("X-Dinamis-Timestamp", "1e20"), ("X-Dinamis-Signature", "sha256=00")),
    ),
    Case(
        "timestamp 10^40",
        "ingest",
        "POST",
        PUSH,
        401,
        "stale-request",
        auth="none",
        body=acquired(),
        headers=(("X-Dinamis-Timestamp", "1" + "0" * 40), ("X-Dinamis-Signature", "sha256=00")),
    ),
    Case(
        "timestamp negative",
        "ingest",
        "POST",
        PUSH,
        401,
        "stale-request",
        auth="none",
        body=acquired(),
        headers=(("X-Dinamis-Timestamp", "-1"), ("X-Dinamis-Signature", "sha256=00")),
    ),
    Case(
        "signature garbage",
        "ingest",
        "POST",
        PUSH,
        401,
        "unauthenticated",
        auth="none",
        body=acquired(),
        headers=(("X-Dinamis-Timestamp", "{now}"), ("X-Dinamis-Signature", "sha256=" + "0" * 64)),
    ),
    Case(
        "signature 8 KiB",
        "ingest",
        "POST",
        PUSH,
        401,
        "unauthenticated",
        auth="none",
        body=acquired(),
        headers=(("X-Dinamis-Timestamp", "{now}"), ("X-Dinamis-Signature", "s" * 8192)),
    ),
    Case(
        "supplier unknown",
        "ingest",
        "POST",
        "/v1/suppliers/acme/deliveries",
        401,
        "unauthenticated",
        body=acquired(),
        signed=True,
    ),
    Case(
        "supplier 1000 characters",
        "ingest",
        "POST",
        f"/v1/suppliers/{'s' * 1000}/deliveries",
        401,
        "unauthenticated",
        body=acquired(),
        signed=True,
    ),
    Case(
        "supplier traversal",
        "ingest",
        "POST",
        f"/v1/suppliers/{TRAVERSAL}/deliveries",
        404,
        "not-found",
        body=acquired(),
        signed=True,
    ),
    Case("body a list", "ingest", "POST", PUSH, 422, "invalid-event", raw=b"[]", signed=True),
    Case("body truncated", "ingest", "POST", PUSH, 400, "invalid-json", raw=b'{"scene_id": ', signed=True),
    Case(
        "body over 1 MiB",
        "ingest",
        "POST",
        PUSH,
        413,
        "body-too-large",
        body=acquired(campaign="c" * 1_100_000),
        signed=True,
    ),
    Case(
        "scene id an operator",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(scene_id=NOSQL),
        signed=True,
    ),
    Case(
        "scene id over 200",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(scene_id=LONG_ID),
        signed=True,
    ),
    Case(
        "scene id RTL and emoji",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(scene_id=RTL_EMOJI),
        signed=True,
    ),
    Case(
        "staging prefix traversal",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(staging={"bucket": "staging", "prefix": "airbus/../../archive/"}),
        signed=True,
    ),
    Case(
        "staging prefix absolute",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(staging={"bucket": "staging", "prefix": "/etc/"}),
        signed=True,
    ),
    Case(
        "staging bucket archive",
        "ingest",
        "POST",
        PUSH,
        403,
        "foreign-staging",
        body=acquired(staging={"bucket": "archive", "prefix": "airbus/x/"}),
        signed=True,
    ),
    Case(
        "staging of another supplier",
        "ingest",
        "POST",
        PUSH,
        403,
        "foreign-staging",
        body=acquired(staging={"bucket": "staging", "prefix": "maxar/x/"}),
        signed=True,
    ),
    Case(
        "checksum path traversal",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(checksums={"../x.TIF": "0" * 64}),
        signed=True,
    ),
    Case(
        "checksum not hex",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(checksums={"x.TIF": "z" * 64}),
        signed=True,
    ),
    Case(
        "size negative",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(announced_size_bytes=-5),
        signed=True,
    ),
    Case(
        "size a float",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(announced_size_bytes=1.5),
        signed=True,
    ),
    Case(
        "size a bool",
        "ingest",
        "POST",
        PUSH,
        202,
        None,
        body=acquired(scene_id="PNEO4-HOSTILE-BOOL", announced_size_bytes=True),
        signed=True,
    ),
    Case(
        "size beyond a double",
        "ingest",
        "POST",
        PUSH,
        400,
        "non-finite-number",
        raw=json.dumps(acquired())
        .replace('"supplier"', f'"announced_size_bytes": {HUGE}, "supplier"')
        .encode(),
        signed=True,
    ),
    Case(
        "delivered without time zone",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(delivered_at="2026-06-12T10:31:04"),
        signed=True,
    ),
    Case(
        "supplier differs",
        "ingest",
        "POST",
        PUSH,
        403,
        "wrong-supplier",
        body=acquired(supplier="maxar"),
        signed=True,
    ),
    Case(
        "unknown field",
        "ingest",
        "POST",
        PUSH,
        422,
        "invalid-event",
        body=acquired(priority="urgent"),
        signed=True,
    ),
    Case("method not allowed", "ingest", "GET", PUSH, 405, "method-not-allowed"),
    Case("unknown route", "ingest", "GET", "/v1/nope", 404, "not-found"),
]

CASES = ORDERS_CASES + NOTIFY_CASES + DELIVERY_CASES + INGEST_CASES


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("hostile-http")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": BASE["orders"],
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_ORDERS_CATALOG_URL": f"http://127.0.0.1:{CATALOG}",
        "DINAMIS_CATALOG_PUBLIC_URL": f"http://127.0.0.1:{CATALOG}",
        "DINAMIS_INGEST_SUPPLIER_SECRETS": json.dumps({"airbus": SECRET}),
        "DINAMIS_DELIVERY_WORK_DIR": str(logs / "work"),
        "DINAMIS_NOTIFY_MONGO_DATABASE": f"notify_hostile_{uid('db').replace('-', '_')}",
    }
    running = (
        ("orders", ORDERS),
        ("catalog", CATALOG),
        ("notify", NOTIFY),
        ("delivery", DELIVERY),
        ("ingest", INGEST),
    )
    with running_services(running, logs, env):
        yield logs


@pytest.fixture(scope="module")
def callers(services, keyfile) -> dict[str, Caller]:
    operator = Caller.staff(keyfile, api=BASE["orders"] + "/v1")
    _, member = new_member_org(keyfile, operator)
    newcomer = Caller(keyfile, uid("new"), "none", ["member"])
    return {"member": member, "staff": operator, "newcomer": newcomer}


@pytest.fixture(scope="module")
def tokens(callers, keyfile) -> dict[str, str]:
    """Hostile bearer tokens, by the placeholder a case's headers name them with."""
    member = callers["member"].headers["Authorization"].removeprefix("Bearer ")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header, payload, sig = member.split(".")
    return {
        "member": member,
        "none": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + payload + ".",
        "foreign": mint_token(stranger, user_id=callers["member"].user),
        "expired": mint_token(
            ensure_local_signing_key(keyfile),
            user_id=callers["member"].user,
            now=datetime.now(UTC) - timedelta(days=2),
            ttl=timedelta(hours=1),
        ),
        "tampered": f"{header}.{payload[:-4]}AAAA.{sig}",
    }


@pytest.fixture(scope="module")
def clients(services):
    """One keep-alive client per service, shared by every case."""
    opened = {name: httpx.Client(base_url=url, timeout=30) for name, url in BASE.items()}
    try:
        yield opened
    finally:
        for client in opened.values():
            client.close()


def request_of(case: Case, callers: dict[str, Caller], tokens: dict[str, str]) -> tuple[bytes | None, list]:
    if case.raw is not None:
        content: bytes | None = case.raw
    elif case.body is not None:
        content = json.dumps(case.body, allow_nan=False).encode()
    else:
        content = None
    headers: list[tuple[str, str]] = []
    if case.auth != "none" and case.service != "ingest":
        caller = callers[case.auth]
        headers += list(caller.headers.items())
    if case.content_type and content is not None:
        headers.append(("Content-Type", case.content_type))
    now = str(int(time.time()))
    for name, value in case.headers:
        for placeholder, token in tokens.items():
            value = value.replace("{" + placeholder + "}", token)
        headers.append((name, value.replace("{now}", now)))
    if case.signed:
        headers += [
            ("X-Dinamis-Timestamp", now),
            ("X-Dinamis-Signature", signature(SECRET, now, content or b"")),
        ]
    return content, headers


def test_there_are_enough_cases_and_each_is_named_once():
    assert len(CASES) >= 150
    assert len({str(c) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_input_is_a_4xx_problem_and_the_client_keeps_working(clients, callers, tokens, case):
    client = clients[case.service]
    content, headers = request_of(case, callers, tokens)
    url = httpx.URL(BASE[case.service]).copy_with(raw_path=case.path.encode())
    if case.params:
        url = url.copy_merge_params(case.params)
    started = time.monotonic()
    r = client.request(case.method, url, content=content, headers=headers, follow_redirects=False)
    elapsed = time.monotonic() - started
    kind = r.headers.get("content-type", "").split(";")[0]
    seen = (r.status_code, kind, r.text[:300])
    assert r.status_code < 500, seen
    assert elapsed < SLOWEST_S, f"{case}: {elapsed:.1f} s"
    if case.status >= 400:
        assert (r.status_code, kind) == (case.status, PROBLEM), seen
        problem = r.json()
        assert problem["code"] == case.code, seen
        assert problem["status"] == case.status and problem["type"] == f"urn:dinamis:problem:{case.code}"
        assert problem["detail"] and "Traceback" not in r.text, seen
    else:
        assert r.status_code == case.status, seen
        if case.code is not None:  # the warning the accepted request must carry
            assert case.code in [w["code"] for w in r.json()["warnings"]], seen
    # The same client (its keep-alive connection, if the server kept it) still gets answers.
    method, path, status = FOLLOW_UP[case.service]
    ok = client.request(method, path, headers=callers["member"].headers)
    assert ok.status_code == status, ok.text[:300]


def test_problems_are_in_french_unless_english_is_preferred(clients, callers):
    member = {"Authorization": callers["member"].headers["Authorization"]}
    fr = clients["orders"].get(f"/v1/requests/{LONG_ID}", headers=member)
    en = clients["orders"].get(f"/v1/requests/{LONG_ID}", headers={**member, "Accept-Language": "en"})
    assert fr.json()["detail"].startswith("La requête est invalide"), fr.text
    assert "the request is invalid" in en.json()["detail"], en.text


def test_a_valid_push_is_still_accepted(clients):
    """After all the refusals, the supplier's valid push goes through (202)."""
    body = json.dumps(acquired(scene_id=uid("PNEO4-HOSTILE"))).encode()
    now = str(int(time.time()))
    r = clients["ingest"].post(
        PUSH,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Dinamis-Timestamp": now,
            "X-Dinamis-Signature": signature(SECRET, now, body),
        },
    )
    assert r.status_code == 202, r.text


def test_no_service_logged_a_traceback(services):
    """Runs after the cases: a refused request costs no traceback and no ERROR line."""
    for log in services.glob("*.log"):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"{log.name}: a traceback was logged"
        errors = [
            json.loads(line) for line in text.splitlines() if line.startswith("{") and '"ERROR"' in line
        ]
        assert not [e for e in errors if e.get("level") == "ERROR"], (log.name, errors[:3])

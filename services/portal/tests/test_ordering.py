"""Ordering in the portal, on fakes of its ports (ordering_api: ProductOrders, Deliveries,
Notifications): the order form and its estimate from the orders service, one
confirmation, the basket, Mes commandes, downloads through the delivery service, the
bulk-download script, the live-stream relay and the bell. The real services are used in
tests/integration/test_portal_ordering.py."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from dinamis_portal.entrypoints import ordering
from dinamis_portal.ordering_api import OrderingPorts, OrderingSettings, Refused
from dinamis_portal.ordering_relay import clean_event, relay
from dinamis_portal.upstream import not_found

FORM_ITEM = "pleiades-neo-ortho/scene-lyon-1"


class FakeProductOrders:
    def __init__(self) -> None:
        self.quoted: list[dict] = []
        self.placed: list[dict] = []
        self.refuse: dict[str, Refused] = {}  # item id -> refusal (quote and place)
        self.refuse_place: dict[str, Refused] = {}  # item id -> refusal when placing only
        self.stored: dict[str, dict] = {}
        self.tokens: list[str] = []

    def _refusal(self, draft: dict) -> Refused | None:
        return self.refuse.get(draft["items"][0]["item_id"])

    async def quote(self, token: str, draft: dict[str, Any]) -> dict[str, Any] | Refused:
        self.tokens.append(token)
        self.quoted.append(draft)
        refusal = self._refusal(draft)
        if refusal:
            return refusal
        return {
            "items": [{**draft["items"][0], "area_km2": 1.25, "estimated_bytes": 12_500_000, "pixel_m": 1.2}],
            "warnings": [{"code": "aoi-partly-outside", "message": "zone en partie hors de la scène"}],
            "size_note_fr": "estimation du raster non compressé",
            "size_note": "uncompressed estimate",
        }

    async def place(self, token: str, draft: dict[str, Any]) -> dict[str, Any] | Refused:
        refusal = self._refusal(draft) or self.refuse_place.get(draft["items"][0]["item_id"])
        if refusal:
            return refusal
        self.placed.append(draft)
        order_id = f"ord-20261128-{len(self.placed):04d}"
        ref = draft["items"][0]
        self.stored[order_id] = {
            "order_id": order_id,
            "organisation_id": "labo-1",
            "created_at": "2026-11-28T10:00:00+00:00",
            "status": "processing",
            "options": {k: v for k, v in draft.items() if k != "items"},
            "warnings": [],
            "products": [{**ref, "product_id": f"{order_id}-1", "status": "pending"}],
        }
        return self.stored[order_id]

    async def orders(self, token: str) -> list[dict[str, Any]]:
        return list(self.stored.values())

    async def get(self, token: str, order_id: str) -> dict[str, Any]:
        if order_id not in self.stored:
            raise not_found("commande", "order")
        return self.stored[order_id]

    async def history(self, token: str, order_id: str) -> list[dict[str, Any]]:
        await self.get(token, order_id)
        return [
            {"rev": 1, "at": "2026-11-28T10:00:00+00:00", "change": "placed"},
            {"rev": 2, "at": "2026-11-28T10:05:00+00:00", "change": f"product {order_id}-1"},
        ]


class FakeDeliveries:
    def __init__(self) -> None:
        self.url = "http://s3.test/delivery/p.tif?X-Amz-Signature=abc"
        self.refusal: Refused | None = None
        self.asked: list[str] = []

    async def download_url(self, token: str, product_id: str) -> str | Refused:
        self.asked.append(product_id)
        return self.refusal or self.url

    async def metalink(self, token: str, order_id: str) -> bytes | Refused:
        return b'<?xml version="1.0"?><metalink xmlns="urn:ietf:params:xml:ns:metalink"/>'


class FakeNotifications:
    def __init__(self) -> None:
        self.items: list[dict] = [
            {
                "id": "n1",
                "created_at": "2026-11-28T10:00:00",
                "event": "product-ready",
                "subject": "Produit prêt",
            },
            {
                "id": "n2",
                "created_at": "2026-11-28T09:00:00",
                "event": "request-approved",
                "subject": "Acceptée",
            },
        ]
        self.chunks: list[bytes] = []
        self.last_ids: list[str | None] = []

    async def latest(self, token: str, limit: int) -> list[dict[str, Any]]:
        return self.items[:limit]

    async def stream(self, token: str, last_event_id: str | None) -> AsyncIterator[bytes]:
        self.last_ids.append(last_event_id)
        for chunk in self.chunks:
            yield chunk


@pytest.fixture
async def shop(portal):
    ports = OrderingPorts(
        settings=OrderingSettings(basket_max=2, stream_check_s=0.05),
        orders=FakeProductOrders(),
        deliveries=FakeDeliveries(),
        notifications=FakeNotifications(),
    )
    portal.app.state.container.ordering = ports
    ordering.OPEN_STREAMS.clear()
    return ports


def nested_arrays(value: Any, in_list: bool = False) -> bool:
    if isinstance(value, dict):
        return any(nested_arrays(v) for v in value.values())
    if isinstance(value, list):
        return in_list or any(nested_arrays(v, True) for v in value)
    return False


async def logged_in(portal) -> str:
    await portal.login()
    page = (await portal.client.get("/")).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def form(csrf: str, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": csrf, "item": FORM_ITEM, "crs": "EPSG:2154", "format": "COG", **fields}


async def test_the_scene_page_offers_ordering_to_members_only(portal, shop):
    anonymous = await portal.client.get("/scenes/pleiades-neo-ortho/scene-lyon-1")
    assert 'id="commander-produit"' not in anonymous.text
    redirected = await portal.client.get(
        "/commander", params={"collection": "pleiades-neo-ortho", "item": "scene-lyon-1"}
    )
    assert redirected.status_code == 303 and redirected.headers["location"].startswith("/connexion?retour=")
    await logged_in(portal)
    page = await portal.client.get("/scenes/pleiades-neo-ortho/scene-lyon-1")
    assert 'href="/commander?collection=pleiades-neo-ortho&amp;item=scene-lyon-1"' in page.text
    assert "Commander un produit" in page.text and "Mes commandes" in page.text and 'id="cloche"' in page.text


async def test_the_form_is_prefilled_lambert93_and_the_search_area(portal, shop):
    await logged_in(portal)
    page = await portal.client.get(
        "/commander",
        params={"collection": "pleiades-neo-ortho", "item": "scene-lyon-1", "bbox": "4.8,45.7,4.9,45.8"},
    )
    assert page.status_code == 200
    assert '<option value="EPSG:2154" selected>Lambert-93 (EPSG:2154)</option>' in page.text
    assert (
        '<textarea class="fr-input portal-aoi" id="aoi" name="aoi" rows="5">4.8,45.7,4.9,45.8</textarea>'
        in page.text
    )
    assert 'name="band" value="P"' in page.text  # the item's PAN image without a band list
    unknown = await portal.client.get(
        "/commander", params={"collection": "pleiades-neo-ortho", "item": "nope"}
    )
    assert unknown.status_code == 404


async def test_estimate_comes_from_orders_then_one_confirmation_places_it(portal, shop):
    csrf = await logged_in(portal)
    refused = await portal.client.post("/commander/estimation", data={**form(csrf), "csrf_token": "forged"})
    assert refused.status_code == 403 and shop.orders.quoted == []
    estimate = await portal.client.post(
        "/commander/estimation", data=form(csrf, aoi="4.8,45.7,4.9,45.8", band=["P"], pansharpen="on")
    )
    assert estimate.status_code == 200
    draft = shop.orders.quoted[-1]
    # The AOI as the AOI tools read it (the same ring, maybe from another corner).
    assert shape(draft["aoi"]).equals(shapely.box(4.8, 45.7, 4.9, 45.8))
    assert {k: v for k, v in draft.items() if k != "aoi"} == {
        "items": [{"collection": "pleiades-neo-ortho", "item_id": "scene-lyon-1"}],
        "crs": "EPSG:2154",
        "format": "COG",
        "bands": ["P"],
        "pansharpen": True,
    }
    assert shop.orders.tokens[-1] == "ACCESS-TOKEN-SECRET"
    assert "1,25 km²" in estimate.text and "12,5 Mo" in estimate.text
    assert "zone en partie hors de la scène" in estimate.text and shop.orders.placed == []
    # The session store is FerretDB: no nested arrays in a session record.
    assert not any(nested_arrays(r) for r in portal.store.records.values())
    key = re.search(r'name="cle" value="([^"]+)"', estimate.text).group(1)
    wrong = await portal.client.post("/commander/confirmer", data={"csrf_token": csrf, "cle": "x" + key})
    assert wrong.status_code == 409 and shop.orders.placed == []
    done = await portal.client.post("/commander/confirmer", data={"csrf_token": csrf, "cle": key})
    assert done.status_code == 303 and done.headers["location"] == "/commandes/ord-20261128-0001"
    assert shop.orders.placed == [draft]
    again = await portal.client.post("/commander/confirmer", data={"csrf_token": csrf, "cle": key})
    assert again.status_code == 409 and len(shop.orders.placed) == 1  # one confirmation, one order


@pytest.mark.parametrize(
    ("aoi", "why"),
    [
        ("not json", "format non reconnu"),
        ('{"a":' * 5000, "JSON trop imbriqué"),
        ('{"type": "Point", "coordinates": [4.8, 45.7]}', "polygone"),
        ("5,45,4,46", "l&#39;ouest doit être inférieur à l&#39;est"),
        ("x" * 200_001, "trop longue"),
    ],
)
async def test_bad_areas_are_refused_in_french_without_asking_orders(portal, shop, aoi, why):
    csrf = await logged_in(portal)
    page = await portal.client.post(
        "/commander/estimation", data=form(csrf, aoi=aoi), headers={"Accept": "text/html"}
    )
    assert page.status_code == 400 and why in page.text and 'id="formulaire-commande"' in page.text
    assert shop.orders.quoted == []


async def test_bad_options_and_hostile_items_are_400_not_500(portal, shop):
    csrf = await logged_in(portal)
    for data in (form(csrf, crs="EPSG:4978"), form(csrf, format="PNG"), form(csrf, item="../../etc/passwd")):
        response = await portal.client.post(
            "/commander/estimation", data=data, headers={"Accept": "application/json"}
        )
        assert response.status_code == 400, data
    assert shop.orders.quoted == []


async def test_orders_refusal_is_shown_with_its_reason_and_code(portal, shop):
    csrf = await logged_in(portal)
    shop.orders.refuse["scene-lyon-1"] = Refused(
        422, "aoi-outside-footprint", "la zone ne recoupe pas la scène"
    )
    page = await portal.client.post("/commander/estimation", data=form(csrf))
    assert "la zone ne recoupe pas la scène" in page.text and "aoi-outside-footprint" in page.text
    assert 'id="confirmer"' not in page.text


async def test_a_basket_orders_one_order_per_scene_and_shows_partial_refusals(portal, shop):
    csrf = await logged_in(portal)
    for item_id in ("scene-lyon-1", "scene-lyon-2", "scene-lyon-2"):
        added = await portal.client.post(
            "/panier/ajouter", data={"csrf_token": csrf, "item": f"pleiades-neo-ortho/{item_id}"}
        )
        assert added.status_code == 303
    basket = await portal.client.get("/panier")
    assert (
        basket.text.count('name="item" value="pleiades-neo-ortho/scene-lyon-') >= 2
        and "2 scènes au plus" in basket.text
    )
    full = await portal.client.post(
        "/panier/ajouter", data={"csrf_token": csrf, "item": "pleiades-neo-ortho/other"}
    )
    assert full.status_code in (400, 404)
    shop.orders.refuse["scene-lyon-2"] = Refused(403, "item-access", "images non autorisées : scene-lyon-2")
    estimate = await portal.client.post(
        "/commander/estimation",
        data={
            "csrf_token": csrf,
            "panier": "1",
            "item": ["pleiades-neo-ortho/scene-lyon-1", "pleiades-neo-ortho/scene-lyon-2"],
        },
    )
    assert len(shop.orders.quoted) == 2 and "images non autorisées" in estimate.text
    assert "Confirmer la commande (1)" in estimate.text
    # Both pass the estimate; the second is refused when placed (the daily limit).
    shop.orders.refuse.clear()
    shop.orders.refuse_place["scene-lyon-2"] = Refused(429, "daily-limit", "limite de 2 commandes atteinte")
    estimate = await portal.client.post(
        "/commander/estimation",
        data={
            "csrf_token": csrf,
            "panier": "1",
            "item": ["pleiades-neo-ortho/scene-lyon-1", "pleiades-neo-ortho/scene-lyon-2"],
        },
    )
    assert "Confirmer la commande (2)" in estimate.text
    key = re.search(r'name="cle" value="([^"]+)"', estimate.text).group(1)
    done = await portal.client.post("/commander/confirmer", data={"csrf_token": csrf, "cle": key})
    assert done.status_code == 200 and len(shop.orders.placed) == 1
    assert "ord-20261128-0001" in done.text and "limite de 2 commandes atteinte" in done.text
    assert "daily-limit" in done.text
    left = await portal.client.get("/panier")
    assert "scene-lyon-2" in left.text and 'value="pleiades-neo-ortho/scene-lyon-1"' not in left.text
    too_many = await portal.client.post(
        "/commander/estimation",
        data={"csrf_token": csrf, "item": [FORM_ITEM] * 3},
        headers={"Accept": "application/json"},
    )
    assert too_many.status_code == 400 and too_many.json()["code"] == "too-many-items"


async def placed_order(portal, shop, csrf: str) -> str:
    estimate = await portal.client.post("/commander/estimation", data=form(csrf))
    key = re.search(r'name="cle" value="([^"]+)"', estimate.text).group(1)
    done = await portal.client.post("/commander/confirmer", data={"csrf_token": csrf, "cle": key})
    return done.headers["location"].rsplit("/", 1)[-1]


async def test_mes_commandes_in_french_with_history_downloads_and_clone(portal, shop):
    csrf = await logged_in(portal)
    order_id = await placed_order(portal, shop, csrf)
    listing = await portal.client.get("/commandes")
    assert order_id in listing.text and "en cours de fabrication" in listing.text
    page = await portal.client.get(f"/commandes/{order_id}")
    assert "Commande passée" in page.text and 'class="portal-timeline"' in page.text
    assert "en attente" in page.text and "/produits/" not in page.text
    shop.orders.stored[order_id]["status"] = "ready"
    shop.orders.stored[order_id]["products"][0].update(
        status="ready", size_bytes=2_000_000, expires_at="2099-01-01T00:00:00+00:00", sha256="ab" * 32
    )
    fragment = await portal.client.get(f"/commandes/{order_id}/etat", headers={"HX-Request": "true"})
    assert "prêt" in fragment.text and f"/commandes/{order_id}/produits/{order_id}-1" in fragment.text
    assert "<html" not in fragment.text and 'data-pending="0"' in fragment.text
    download = await portal.client.get(f"/commandes/{order_id}/produits/{order_id}-1")
    assert download.status_code == 303 and download.headers["location"] == shop.deliveries.url
    stranger = await portal.client.get(f"/commandes/{order_id}/produits/other-product")
    assert stranger.status_code == 404 and shop.deliveries.asked == [f"{order_id}-1"]
    shop.deliveries.refusal = Refused(410, "product-expired", "Ce produit a expiré")
    gone = await portal.client.get(
        f"/commandes/{order_id}/produits/{order_id}-1", headers={"Accept": "text/html"}
    )
    assert gone.status_code == 410 and "Ce produit a expiré" in gone.text
    clone = await portal.client.get("/commander", params={"clone": order_id})
    assert f"commande {order_id}" in clone.text and 'value="pleiades-neo-ortho/scene-lyon-1"' in clone.text


async def test_another_organisations_order_is_not_found_and_leaks_nothing(portal, shop):
    await logged_in(portal)
    for path in (
        "/commandes/ord-other",
        "/commandes/ord-other/etat",
        "/commandes/ord-other/metalink",
        "/commandes/ord-other/script",
        "/commandes/ord-other/produits/p1",
        "/commander?clone=ord-other",
    ):
        response = await portal.client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 404, path
        assert response.json()["code"] == "not-found"
    assert shop.deliveries.asked == []


async def test_the_bulk_script_quotes_what_it_is_given(portal, shop):
    csrf = await logged_in(portal)
    order_id = await placed_order(portal, shop, csrf)
    shop.orders.stored[order_id]["products"][0].update(
        status="ready", expires_at="2099-01-01T00:00:00+00:00", sha256="ab" * 32
    )
    shop.deliveries.url = "http://s3.test/p.tif?a=1&b='$(rm -rf ~)'"
    script = await portal.client.get(f"/commandes/{order_id}/script", params={"outil": "curl"})
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/x-shellscript")
    assert "curl -fSL --retry 3 -o" in script.text
    assert "'http://s3.test/p.tif?a=1&b='\"'\"'$(rm -rf ~)'\"'\"''" in script.text
    assert f"{'ab' * 32}  {order_id}-1.tif" in script.text
    wget = await portal.client.get(f"/commandes/{order_id}/script", params={"outil": "wget"})
    assert "wget --tries=3 -O" in wget.text
    bad = await portal.client.get(
        f"/commandes/{order_id}/script", params={"outil": "bash"}, headers={"Accept": "application/json"}
    )
    assert bad.status_code == 400
    meta = await portal.client.get(f"/commandes/{order_id}/metalink")
    assert meta.headers["content-type"] == "application/metalink4+xml" and b"metalink" in meta.content


async def test_ordering_needs_a_login(portal, shop):
    for path in ("/commandes", "/panier", "/notifications"):
        response = await portal.client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/connexion"), path
    for path in ("/evenements", "/notifications/compte", "/commandes/x/produits/y"):
        response = await portal.client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 401, path


async def test_the_bell_counts_unread_then_marks_them_read(portal, shop):
    await logged_in(portal)
    count = await portal.client.get("/notifications/compte")
    assert count.json() == {"unread": 2}
    page = await portal.client.get("/notifications")
    assert "Produit prêt" in page.text and page.text.count("nouveau") == 2
    assert (await portal.client.get("/notifications/compte")).json() == {"unread": 0}
    shop.notifications.items.insert(0, {"id": "n3", "created_at": "2026-11-28T11:00:00", "subject": "x"})
    assert (await portal.client.get("/notifications/compte")).json() == {"unread": 1}


async def test_the_relay_route_forwards_the_users_events_and_caps_streams(portal, shop):
    await logged_in(portal)
    shop.notifications.chunks = [
        b"retry: 3000\n\n",
        b'id: 7\nevent: product-ready\ndata: {"data": {"order_id": "ord-1"}}\n\n',
        b"id: 8\nevent: secret-internal\ndata: {}\n\n",
    ]
    response = await portal.client.get("/evenements", headers={"Last-Event-ID": "6"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert 'id: 7\nevent: product-ready\ndata: {"data": {"order_id": "ord-1"}}\n\n' in response.text
    assert "secret-internal" not in response.text
    assert shop.notifications.last_ids == ["6"]
    await portal.client.get("/evenements", headers={"Last-Event-ID": "7; evil"})
    assert shop.notifications.last_ids[-1] is None
    assert ordering.OPEN_STREAMS == {}  # every finished stream gave its slot back
    session_key = next(iter(portal.store.records))
    ordering.OPEN_STREAMS[session_key] = shop.settings.streams_per_session
    capped = await portal.client.get("/evenements", headers={"Accept": "application/json"})
    assert capped.status_code == 429 and capped.json()["code"] == "too-many-streams"


def test_clean_event_passes_known_events_only():
    assert (
        clean_event('id: 3\nevent: product-ready\ndata: {"a": 1}')
        == 'id: 3\nevent: product-ready\ndata: {"a": 1}\n\n'
    )
    assert clean_event("event: other\ndata: x") is None
    assert clean_event(": heartbeat") == ": heartbeat\n\n"
    assert clean_event("id: 1 2\nevent: product-failed\ndata: {}") == "event: product-failed\ndata: {}\n\n"


async def chunks_of(*parts: bytes, hang: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if hang:
        await asyncio.sleep(3600)


async def collect(stream: AsyncIterator[str], limit: int = 20) -> list[str]:
    out = []
    async for part in stream:
        out.append(part)
        if len(out) >= limit:
            break
    return out


async def test_relay_ends_with_the_session_and_quietly_when_the_token_expires():
    states = iter(["ok", "ended"])

    async def alive() -> str:
        return next(states)

    out = await asyncio.wait_for(
        collect(
            relay(
                chunks_of(b"event: product-ready\ndata: {}\n\n", hang=True),
                alive,
                check_s=0.01,
                line_max=1024,
            )
        ),
        5,
    )
    assert out[-1] == "event: session-ended\ndata: {}\n\n"

    async def renew() -> str:
        return "renew"

    out = await asyncio.wait_for(collect(relay(chunks_of(hang=True), renew, check_s=0.01, line_max=1024)), 5)
    assert out == ["retry: 3000\n\n"]


async def test_relay_never_buffers_an_endless_event():
    async def alive() -> str:
        return "ok"

    endless = chunks_of(*([b"data: " + b"x" * 1000] * 100), hang=True)
    out = await asyncio.wait_for(collect(relay(endless, alive, check_s=1, line_max=4096)), 5)
    assert out == ["retry: 3000\n\n"]  # ended, nothing of the oversized event passed on


async def test_english_pages(portal, shop):
    await logged_in(portal)
    page = await portal.client.get(
        "/commander", params={"collection": "pleiades-neo-ortho", "item": "scene-lyon-1", "lang": "en"}
    )
    assert "Order a product" in page.text and "Output coordinate system" in page.text
    assert json.loads(json.dumps({"ok": True}))


def test_stream_slots_are_taken_before_the_answer_per_session_user_and_process():
    """Slots are taken in the handler, before any answer exists (concurrent requests cannot
    all pass the check), and bounded per session, per user (over any number of sessions)
    and for the process; a slot given back twice is given back once."""
    from dinamis_portal.errors import PortalError
    from dinamis_portal.ordering_api import OrderingSettings

    ordering.OPEN_STREAMS.clear()
    settings = OrderingSettings(streams_per_session=2, streams_per_user=3, streams_max=4)
    held = [ordering.take_stream_slot("session-a", "alice", settings) for _ in range(2)]
    with pytest.raises(PortalError) as refused:
        ordering.take_stream_slot("session-a", "alice", settings)
    assert refused.value.http_status == 429
    held.append(ordering.take_stream_slot("session-b", "alice", settings))
    with pytest.raises(PortalError):  # alice's third stream, from a third session
        ordering.take_stream_slot("session-c", "alice", settings)
    held.append(ordering.take_stream_slot("session-d", "bob", settings))
    with pytest.raises(PortalError):  # the process is full
        ordering.take_stream_slot("session-e", "carol", settings)
    for slot in held:
        slot.release()
        slot.release()
    assert ordering.OPEN_STREAMS == {}


async def test_two_concurrent_confirmations_of_one_estimate_place_it_once(portal, shop):
    """Both requests read the session before either saves it: the single-use key is claimed
    atomically in the store, so only one of them places the orders."""
    import asyncio

    csrf = await logged_in(portal)
    estimate = await portal.client.post("/commander/estimation", data=form(csrf, aoi="4.8,45.7,4.9,45.8"))
    key = re.search(r'name="cle" value="([^"]+)"', estimate.text).group(1)
    store = portal.store
    real_get = store.get
    both_read = asyncio.Barrier(2)

    async def slow_get(k: str):  # each confirmation reads the session, then waits for the other
        record = await real_get(k)
        if record and any(isinstance(v, str) and v for v in [record.get("csrf")]):
            try:
                await asyncio.wait_for(both_read.wait(), 1)
            except TimeoutError:
                pass
        return record

    store.get = slow_get
    answers = await asyncio.gather(
        *(portal.client.post("/commander/confirmer", data={"csrf_token": csrf, "cle": key}) for _ in range(2))
    )
    store.get = real_get
    assert sorted(a.status_code for a in answers) == [303, 409]
    assert len(shop.orders.placed) == 1

"""Ordering through the portal on the real stack (tests/browser/ordering_stack.py: orders,
catalog, ingest, delivery, notify, portal; Keycloak, Kafka, FerretDB, S3): a member orders
a Lambert-93 clip of a real scene through the portal's forms (with the CSRF token), sees
the orders service's estimate, confirms; the delivery service builds the product, the
order becomes ready, the portal's download link redirects to a file rasterio opens in
EPSG:2154. A member of another organisation gets 404 for that order and learns nothing;
the live-stream relay passes the member's events on, and none of them to the other."""

from __future__ import annotations

import asyncio
import json
import re
import time
from html import unescape

import httpx
import pytest
import rasterio
from pymongo import MongoClient

from dinamis_portal.sessions import hash_id, opened
from dinamis_shared.settings import ServiceSettings
from tests.browser.ordering_stack import inner_aoi
from tests.browser.portal_stack import csrf_of, log_in, lyon_scene, member, portal_stack
from tests.integration.identity import Browser, text_of


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with portal_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


@pytest.fixture(scope="module")
async def scene(settings, stack, tmp_path_factory):
    return await lyon_scene(settings, stack, tmp_path_factory.mktemp("scene"), day=7)


def raw(browser: Browser, method: str, url: str, **kwargs) -> httpx.Response:
    """One request with the browser's cookies, redirects not followed."""
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    return browser.client.request(
        method, url, headers={"Cookie": cookie, **kwargs.pop("headers", {})}, **kwargs
    )


@pytest.fixture(scope="module")
def alice(stack):
    _, email, password = member()
    return log_in(stack.portal, email, password)[0]


@pytest.fixture(scope="module")
def bob(stack):
    _, email, password = member()  # another organisation
    return log_in(stack.portal, email, password)[0]


@pytest.fixture(scope="module")
def placed(stack, scene, alice) -> dict:
    """Alice orders a Lambert-93 clip through the forms: estimate, then confirmation."""
    form_page = alice.go(
        "GET", f"{stack.portal}/commander?collection={scene['collection']}&item={scene['id']}"
    )
    assert form_page.status_code == 200, text_of(form_page)[:300]
    assert '<option value="EPSG:2154" selected>' in form_page.text
    csrf = csrf_of(form_page)
    aoi = inner_aoi(scene)
    fields = {
        "csrf_token": csrf,
        "item": f"{scene['collection']}/{scene['id']}",
        "aoi": json.dumps(aoi),
        "crs": "EPSG:2154",
        "format": "COG",
    }
    # Without the session's token: refused, and nothing asked of the orders service.
    forged = raw(alice, "POST", f"{stack.portal}/commander/estimation", data={**fields, "csrf_token": "x"})
    assert forged.status_code == 403
    estimate = alice.go("POST", f"{stack.portal}/commander/estimation", data=fields)
    assert estimate.status_code == 200, text_of(estimate)[:500]
    area = re.search(r'id="surface-totale">([^<]+)<', estimate.text).group(1)
    size = re.search(r'id="taille-totale">([^<]+)<', estimate.text).group(1)
    assert area.endswith("km²") and re.search(r"\d", size), (area, size)
    key = re.search(r'name="cle" value="([^"]+)"', estimate.text).group(1)
    confirmed = raw(
        alice, "POST", f"{stack.portal}/commander/confirmer", data={"csrf_token": csrf, "cle": key}
    )
    assert confirmed.status_code == 303, text_of(confirmed)[:500]
    order_id = confirmed.headers["location"].rsplit("/", 1)[-1]
    return {"order_id": order_id, "area": area, "size": size, "aoi": aoi, "csrf": csrf}


def test_the_estimate_is_the_orders_services(stack, scene, alice, placed):
    """The portal shows the orders service's quote for the same draft (no business rule
    of its own), and the quote reserved nothing (the order exists once, after confirming)."""
    token = alice_token(alice)
    quote = httpx.post(
        f"{stack.orders}/v1/product-orders/quote",
        json={"items": [{"collection": scene["collection"], "item_id": scene["id"]}], "aoi": placed["aoi"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert quote.status_code == 200, quote.text
    km2 = quote.json()["area_km2"]
    assert placed["area"] == f"{km2:.2f}".replace(".", ",") + " km²"
    listed = httpx.get(
        f"{stack.orders}/v1/product-orders", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()["orders"]
    assert [o["order_id"] for o in listed] == [placed["order_id"]]


def alice_token(browser: Browser) -> str:
    """The member's access token, read from the portal's session store (the test plays
    the member's own API client; the portal never shows it)."""
    session_id = browser.cookies["dinamis_portal_session"]
    settings = ServiceSettings()
    with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
        record = client[settings.mongo_database]["portal_sessions"].find_one({"_id": hash_id(session_id)})
    assert record is not None
    return opened(session_id, record["data"])["tokens"]["access_token"]


def wait_ready(stack, browser: Browser, order_id: str, timeout_s: float = 180) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        page = browser.go("GET", f"{stack.portal}/commandes/{order_id}/etat")
        state = re.search(r'id="statut-commande">([^<]+)<', page.text)
        if state and state.group(1) in ("prêt", "échec", "partiellement prêt"):
            return page
        assert time.monotonic() < deadline, text_of(page)[:500]
        time.sleep(1)


def test_the_order_becomes_ready_and_downloads_in_lambert93(stack, alice, placed, tmp_path):
    order_id = placed["order_id"]
    page = alice.go("GET", f"{stack.portal}/commandes")
    assert order_id in page.text
    state = wait_ready(stack, alice, order_id)
    assert 'id="statut-commande">prêt<' in state.text, text_of(state)[:500]
    detail = alice.go("GET", f"{stack.portal}/commandes/{order_id}")
    assert "Commande passée" in detail.text and "Lambert-93 (EPSG:2154)" in detail.text
    link = unescape(re.search(r'href="(/commandes/[^"]+/produits/[^"]+)"', detail.text).group(1))
    redirect = raw(alice, "GET", stack.portal + link)
    assert redirect.status_code == 303, text_of(redirect)[:300]
    signed = redirect.headers["location"]
    assert "X-Amz-Signature=" in signed
    target = tmp_path / "product.tif"
    target.write_bytes(httpx.get(signed, timeout=60).raise_for_status().content)
    with rasterio.open(target) as dataset:
        assert dataset.crs.to_epsg() == 2154 and dataset.width > 0
    script = raw(alice, "GET", f"{stack.portal}/commandes/{order_id}/script?outil=curl")
    assert script.status_code == 200 and "X-Amz-Signature=" in script.text and "sha256sum -c" in script.text
    meta = raw(alice, "GET", f"{stack.portal}/commandes/{order_id}/metalink")
    assert meta.status_code == 200 and b"<metalink" in meta.content


def test_another_organisations_order_is_404_and_leaks_nothing(stack, scene, bob, alice, placed):
    order_id = placed["order_id"]
    detail = alice.go("GET", f"{stack.portal}/commandes/{order_id}")
    product = re.search(r"/produits/([^\"]+)\"", detail.text).group(1)
    for path in (
        f"/commandes/{order_id}",
        f"/commandes/{order_id}/etat",
        f"/commandes/{order_id}/produits/{product}",
        f"/commandes/{order_id}/metalink",
        f"/commandes/{order_id}/script",
        f"/commander?clone={order_id}",
    ):
        response = raw(bob, "GET", stack.portal + path, headers={"Accept": "text/html"})
        assert response.status_code == 404, (path, response.status_code)
        # The page's own links echo the address Bob typed (language switch, login): the
        # rest of the page must say nothing of the order.
        body = re.sub(r'href="[^"]*"', "", response.text)
        assert scene["id"] not in body and product not in body and "EPSG:2154" not in body, path
        assert "X-Amz" not in response.text and "introuvable" in body
    mine = raw(bob, "GET", f"{stack.portal}/commandes")
    assert order_id not in mine.text and scene["id"] not in mine.text


async def read_events(stack, browser: Browser, last_event_id: str, seconds: float) -> str:
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    text = ""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=seconds + 5)) as client:
        async with client.stream(
            "GET", f"{stack.portal}/evenements", headers={"Cookie": cookie, "Last-Event-ID": last_event_id}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            deadline = asyncio.get_running_loop().time() + seconds
            iterator = response.aiter_text()
            while asyncio.get_running_loop().time() < deadline:
                try:
                    text += await asyncio.wait_for(anext(iterator), 1.5)
                except TimeoutError:
                    continue
                except StopAsyncIteration:
                    break
    return text


async def test_the_relay_forwards_the_members_events_and_nothing_of_another_org(stack, alice, bob, placed):
    order_id = placed["order_id"]
    wait_ready(stack, alice, order_id)
    # Replay from the start of each one's stream (Last-Event-ID): Alice's has her order's
    # product-ready; Bob's, nothing of it.
    mine, theirs = await asyncio.gather(read_events(stack, alice, "0", 8), read_events(stack, bob, "0", 8))
    assert "event: product-ready" in mine and order_id in mine, mine[-2000:]
    assert re.search(r"^id: \d+$", mine, flags=re.M)
    assert order_id not in theirs and placed["aoi"]["coordinates"][0][0][0].__str__() not in theirs
    anonymous = httpx.get(f"{stack.portal}/evenements", headers={"Accept": "application/json"}, timeout=10)
    assert anonymous.status_code == 401


async def test_the_relay_ends_when_the_session_ends(stack):
    """Logging out (in another tab) ends an open live stream within the relay's check
    period (2 s here); a new one is refused."""
    _, email, password = member()
    carol, _ = log_in(stack.portal, email, password)
    csrf = csrf_of(carol.go("GET", f"{stack.portal}/"))
    cookie = "; ".join(f"{k}={v}" for k, v in carol.cookies.items())
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=30)) as client:
        async with client.stream("GET", f"{stack.portal}/evenements", headers={"Cookie": cookie}) as response:
            assert response.status_code == 200
            iterator = response.aiter_text()
            first = await asyncio.wait_for(anext(iterator), 10)
            assert first.startswith("retry:")
            logout = await client.post(
                f"{stack.portal}/deconnexion", data={"csrf_token": csrf}, headers={"Cookie": cookie}
            )
            assert logout.status_code in (302, 303)
            started = time.monotonic()
            rest = ""
            async for part in iterator:  # ends by itself, or the read timeout fails the test
                rest += part
            assert "event: session-ended" in rest and time.monotonic() - started < 15
        again = await client.get(
            f"{stack.portal}/evenements", headers={"Cookie": cookie, "Accept": "application/json"}
        )
        assert again.status_code == 401

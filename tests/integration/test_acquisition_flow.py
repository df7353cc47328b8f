"""The whole acquisition chain across services: a member's request, an operator's
approval, the order placed with the supplier (simulator over HTTP), the scenes it
delivers ingested and catalogued, the request fulfilled and its quota consumed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from dinamis_shared.auth import ensure_local_signing_key
from dinamis_shared.events import RequestUpdatedV1
from dinamis_testkit.testing import running_services
from dinamis_testkit.watch import EventWatcher
from tests.integration.orders_api import Caller, new_member_org, orders_api, square, tasking
from tests.ports import free_ports

ORDERS, INGEST, CATALOG, SUPPLIER = free_ports(4)


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    key = logs / "signing-key.pem"
    ensure_local_signing_key(key)
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(key),
        "DINAMIS_ORDERS_SUPPLIER_URL": f"http://127.0.0.1:{SUPPLIER}",
        "DINAMIS_ORDERS_CATALOG_URL": f"http://127.0.0.1:{CATALOG}",
        "DINAMIS_CATALOG_PUBLIC_URL": f"http://127.0.0.1:{CATALOG}",
        "DINAMIS_SUPPLIER_ACQUISITION_DELAY_S": "0",
        "DINAMIS_SUPPLIER_HTTP_PORT": str(SUPPLIER),
    }
    services = (("supplier-sim", SUPPLIER), ("ingest", INGEST), ("catalog", CATALOG), ("orders", ORDERS))
    with running_services(services, logs, env):
        yield key


async def test_request_to_fulfilled_acquisition(services, settings):
    operator = Caller.staff(services, api=orders_api(ORDERS))
    _, member = new_member_org(services, operator)
    req = member.call("POST", "/requests", json=tasking(aoi=square(4.80, 45.70, 0.07))).json()
    rid, period = req["request_id"], req["quota_period"]
    operator.call(
        "POST", f"/quotas/{member.org}/pleiades-neo/{period}", json={"km2": 200, "reason": "dotation"}
    )
    operator.call("POST", f"/requests/{rid}/actions", json={"action": "start_review"})
    async with EventWatcher(settings.kafka_bootstrap_servers, [RequestUpdatedV1.topic()]) as watcher:
        r = operator.call("POST", f"/requests/{rid}/actions", json={"action": "approve"})
        assert r.json()["status"] == "approved", r.text
        updates = await watcher.wait(
            lambda: [e for e in watcher.events(RequestUpdatedV1, rid) if e.status == "fulfilled"], 180
        )
        statuses = [e.status for e in watcher.events(RequestUpdatedV1, rid)]
    since_approval = statuses[statuses.index("approved") :]
    assert since_approval[:2] == ["approved", "in_progress"] and since_approval[-1] == "fulfilled", statuses
    assert updates[0].covered_share >= 0.95
    state = member.call("GET", f"/requests/{rid}").json()
    assert state["supplier_order_id"].startswith("SIM-") and state["scenes"]
    supplier = httpx.get(
        f"http://127.0.0.1:{SUPPLIER}/orders/{rid}", headers={"X-Api-Key": "dinamis-dev-supplier-key"}
    ).json()
    assert supplier["status"] == "delivered" and supplier["scenes"] == state["scenes"]
    balance = member.call("GET", f"/quotas/{member.org}/pleiades-neo/{period}").json()
    assert (
        balance["consumed_km2"] == pytest.approx(req["area_km2"], rel=0.01) and balance["reserved_km2"] == 0
    )
    # The scene is in the catalogue, and licensed to the requesting organisation.
    scene_id = state["scenes"][0]
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            found = (await client.get(f"http://127.0.0.1:{CATALOG}/search", params={"ids": scene_id})).json()
            if found["features"]:
                break
            await asyncio.sleep(0.2)
    assert found["features"][0]["id"] == scene_id
    decisions = member.call("POST", "/access/items", json={"item_ids": [scene_id]}).json()["decisions"]
    assert decisions[scene_id]["allowed"]
    # The supplier refuses callers without its key.
    assert httpx.get(f"http://127.0.0.1:{SUPPLIER}/orders/{rid}").status_code == 401

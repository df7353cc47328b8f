"""The orders service's review additions for the ops console, on the real stack (Kafka,
FerretDB, the catalog with pgSTAC): an operator answers a request over Lyon with a scene the
catalogue holds (`propose_scenes`: the request is closed as rejected, code
`covered-by-catalogue`, the item kept on it, `request-rejected` published), a scene the
catalogue does not hold is refused, and the staff-only review checks (quota, co-financing,
the other requests over the same ground)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dinamis_shared.events import RequestRejectedV1
from dinamis_testkit.examples import lyon_item
from dinamis_testkit.testing import start_service, stop_service
from dinamis_testkit.watch import EventWatcher
from tests.integration.orders_api import Caller, new_member_org, orders_api, square, tasking
from tests.integration.scenes import index_item
from tests.ports import free_ports

ORDERS, CATALOG = free_ports(2)
API = orders_api(ORDERS)
CATALOG_URL = f"http://127.0.0.1:{CATALOG}"
LYON = square(4.80, 45.70, 0.06)


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("propose")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_ORDERS_CATALOG_URL": CATALOG_URL,
        "DINAMIS_CATALOG_PUBLIC_URL": CATALOG_URL,
    }
    procs = []
    try:
        procs.append(start_service("catalog", CATALOG, logs, env=env))
        procs.append(start_service("orders", ORDERS, logs, env=env))
        yield
    finally:
        for proc in reversed(procs):
            stop_service(proc)


@pytest.fixture(scope="module")
def operator(keyfile, services):
    return Caller.staff(keyfile, api=API)


async def indexed_scene(settings) -> dict:
    doc = lyon_item()
    doc["id"] = f"PROPOSE-{uuid.uuid4().hex[:10]}"
    doc["geometry"] = square(4.79, 45.69, 0.08)
    doc["bbox"] = [4.79, 45.69, 4.87, 45.77]
    when = datetime.now(UTC) - timedelta(days=20)
    doc["properties"].update(
        {"datetime": when.isoformat().replace("+00:00", "Z"), "constellation": "pleiades-neo"}
    )
    return await index_item(settings, CATALOG_URL, doc, source="/tests/propose")


async def test_an_operator_proposes_a_catalogue_scene_instead(keyfile, operator, settings):
    scene = await indexed_scene(settings)
    _referent, member = new_member_org(keyfile, operator)
    _ref2, neighbour = new_member_org(keyfile, operator)
    rid = member.call("POST", "/requests", json=tasking(LYON)).json()["request_id"]
    near = neighbour.call("POST", "/requests", json=tasking(square(4.83, 45.70, 0.06))).json()
    started = operator.call("POST", f"/requests/{rid}/actions", json={"action": "start_review"})
    assert started.status_code == 200, started.text

    # The review checks: staff only; the quota, the co-financing, the neighbour's request.
    assert member.call("GET", f"/requests/{rid}/review").status_code == 403
    checks = operator.call("GET", f"/requests/{rid}/review")
    assert checks.status_code == 200, checks.text
    body = checks.json()
    assert body["quota"]["available_km2"] == 0 and body["cofinancing"]["price_per_km2_eur"] == 6.0
    # (Other tests' requests over Lyon may be there too on a kept stack.)
    overlaps = {o["request_id"]: o for o in body["overlaps"]}
    assert rid not in overlaps and near["request_id"] in overlaps
    assert overlaps[near["request_id"]]["organisation_id"] == neighbour.org
    assert overlaps[near["request_id"]]["aoi"]["type"] == "Polygon"
    assert 0.45 < overlaps[near["request_id"]]["share"] < 0.55
    assert operator.call("GET", "/requests/req-unknown-1/review").status_code == 404

    item = {"collection": "pleiades-neo-ortho", "item_id": scene["id"]}
    action = {"action": "propose_scenes", "reason": "Déjà au catalogue", "items": [item]}
    # Refused: by the member, with a scene the catalogue does not hold, items on another action.
    assert member.call("POST", f"/requests/{rid}/actions", json=action).status_code == 403
    ghost = {**action, "items": [{"collection": "pleiades-neo-ortho", "item_id": "NOPE-1"}]}
    r = operator.call("POST", f"/requests/{rid}/actions", json=ghost, headers={"Accept-Language": "fr"})
    assert r.status_code == 422 and r.json()["code"] == "invalid-proposal", r.text
    assert "n'est pas au catalogue" in r.json()["detail"]
    r = operator.call("POST", f"/requests/{rid}/actions", json={**action, "action": "reject"})
    assert r.status_code == 400 and r.json()["code"] == "invalid-proposal", r.text
    r = operator.call("POST", f"/requests/{rid}/actions", json={**action, "items": []})
    assert r.status_code == 422, r.text

    async with EventWatcher(settings.kafka_bootstrap_servers, [RequestRejectedV1.topic()]) as watcher:
        r = operator.call("POST", f"/requests/{rid}/actions", json=action)
        assert r.status_code == 200, r.text
        found = await watcher.wait(lambda: watcher.events(RequestRejectedV1, rid), 30)
    assert isinstance(found, list)
    event = found[0]
    assert isinstance(event, RequestRejectedV1)
    assert event.reason == "Déjà au catalogue" and event.rejected_by == operator.user
    done = member.call("GET", f"/requests/{rid}").json()
    assert done["status"] == "rejected" and done["rejection_code"] == "covered-by-catalogue"
    assert done["proposed_items"] == [item] and done["allowed_actions"] == []
    history = member.call("GET", f"/requests/{rid}/history").json()["history"]
    assert history[-1]["change"] == "propose_scenes" and scene["id"] in history[-1]["why"]
    # Closed: a second proposal is an invalid transition.
    assert operator.call("POST", f"/requests/{rid}/actions", json=action).status_code == 409

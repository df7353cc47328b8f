"""Issue 12, the holes a security review reproduced against the running platform, each
closed and kept closed here (orders service, supplier simulator, ingest push endpoint)."""

from __future__ import annotations

import json
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from dinamis_shared.signing import signature
from dinamis_testkit.testing import running_services, start_service, stop_service
from tests.integration.orders_api import (
    Caller,
    application,
    join,
    new_member_org,
    orders_api,
    square,
    tasking,
    uid,
)
from tests.ports import free_ports

ORDERS, SUPPLIER, GATE, INGEST = free_ports(4)
API = orders_api(ORDERS)
SUPPLIER_KEY = {"X-Api-Key": "dinamis-dev-supplier-key"}
ACQUISITION_DELAY_S = 8.0


class Gate(BaseHTTPRequestHandler):
    """Between orders and the simulator: placements fail (503, as in an outage), so the
    test places the order itself when it means to (the placement in flight when the
    author cancels); cancellations and reads go through."""

    def do_POST(self) -> None:
        self.send_response(503)
        self.end_headers()

    def _forward(self, method: str) -> None:
        headers = {"X-Api-Key": self.headers.get("X-Api-Key", "")}
        r = httpx.request(method, f"http://127.0.0.1:{SUPPLIER}{self.path}", headers=headers, timeout=30)
        self.send_response(r.status_code)
        self.send_header("Content-Type", r.headers.get("content-type", "application/json"))
        self.end_headers()
        self.wfile.write(r.content)

    def do_DELETE(self) -> None:
        self._forward("DELETE")

    def do_GET(self) -> None:
        self._forward("GET")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("holes")
    gate = ThreadingHTTPServer(("127.0.0.1", GATE), Gate)
    threading.Thread(target=gate.serve_forever, daemon=True).start()
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_SUPPLIER_URL": f"http://127.0.0.1:{GATE}",
        "DINAMIS_ORDERS_CATALOG_URL": "http://127.0.0.1:9",
        "DINAMIS_ORDERS_PERIODIC_INTERVAL_S": "3600",
        "DINAMIS_ORDERS_PRODUCT_ORDERS_PER_DAY": "3",
        "DINAMIS_SUPPLIER_ACQUISITION_DELAY_S": str(ACQUISITION_DELAY_S),
        "DINAMIS_SUPPLIER_HTTP_PORT": str(SUPPLIER),
    }
    try:
        with running_services((("supplier-sim", SUPPLIER), ("orders", ORDERS)), logs, env):
            yield
    finally:
        gate.shutdown()


@pytest.fixture(scope="module")
def operator(keyfile, services):
    return Caller.staff(keyfile, api=API)


def supplier(method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(
        method, f"http://127.0.0.1:{SUPPLIER}{path}", headers=SUPPLIER_KEY, timeout=30, **kwargs
    )


def approved_request(keyfile, operator, lon: float) -> tuple[Caller, dict, str]:
    _, member = new_member_org(keyfile, operator)
    req = member.call("POST", "/requests", json=tasking(aoi=square(lon, 45.70, 0.07))).json()
    rid, period = req["request_id"], req["quota_period"]
    quota = f"/quotas/{member.org}/pleiades-neo/{period}"
    operator.call("POST", quota, json={"km2": 200, "reason": "dotation"})
    operator.call("POST", f"/requests/{rid}/actions", json={"action": "start_review"})
    r = operator.call("POST", f"/requests/{rid}/actions", json={"action": "approve"})
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    return member, req, quota


def place_at_supplier(req: dict) -> dict:
    """The platform's placement, in flight: the supplier has the order, orders has not
    recorded `in_progress` yet."""
    body = {k: req[k] for k in ("sensor_family", "aoi", "window", "max_cloud_cover")}
    r = supplier("POST", "/orders", json={"reference": req["request_id"], **body})
    assert r.status_code == 201, r.text
    return r.json()


# --- 1. cancel/approval race ----------------------------------------------------------


def test_cancel_between_approval_and_acquisition_waits_for_the_supplier(keyfile, operator):
    member, req, quota = approved_request(keyfile, operator, 4.80)
    rid = req["request_id"]
    placed = place_at_supplier(req)
    assert placed["status"] == "accepted"
    r = member.call("POST", f"/requests/{rid}/actions", json={"action": "cancel"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    assert supplier("GET", f"/orders/{rid}").json()["status"] == "cancelled"
    balance = member.call("GET", quota).json()
    assert balance["reserved_km2"] == 0 and balance["available_km2"] == 200
    history = [h["change"] for h in member.call("GET", f"/requests/{rid}/history").json()["history"]]
    assert history[-2:] == ["cancellation requested", "confirm_cancellation"]
    # The supplier never acquires it, and a late placement is refused.
    time.sleep(ACQUISITION_DELAY_S + 1)
    order = supplier("GET", f"/orders/{rid}").json()
    assert order["status"] == "cancelled" and order["scenes"] == []


def test_cancel_before_any_placement_is_remembered_by_the_supplier(keyfile, operator):
    member, req, quota = approved_request(keyfile, operator, 4.90)
    rid = req["request_id"]
    r = member.call("POST", f"/requests/{rid}/actions", json={"action": "cancel"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    late = place_at_supplier(req)  # the placement that raced the cancellation
    assert late["status"] == "cancelled" and late["order_id"] is None
    assert member.call("GET", quota).json()["available_km2"] == 200


def test_cancel_once_the_supplier_acquires_is_refused_in_french(keyfile, operator):
    member, req, quota = approved_request(keyfile, operator, 5.00)
    rid = req["request_id"]
    placed = place_at_supplier(req)
    deadline = time.monotonic() + ACQUISITION_DELAY_S + 30
    while supplier("GET", f"/orders/{rid}").json()["status"] == "accepted":
        assert time.monotonic() < deadline, "the simulator never started acquiring"
        time.sleep(0.1)
    r = member.call(
        "POST", f"/requests/{rid}/actions", json={"action": "cancel"}, headers={"Accept-Language": "fr"}
    )
    history = member.call("GET", f"/requests/{rid}/history").json()["history"]
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "supplier-acquiring", (r.text, history)
    problem = r.json()
    assert problem["code"] == "supplier-acquiring" and "fournisseur" in problem["detail"]
    state = member.call("GET", f"/requests/{rid}").json()
    assert state["status"] == "in_progress" and state["supplier_order_id"] == placed["order_id"]
    balance = member.call("GET", quota).json()
    # Not refunded: reserved, or already consumed by the scenes delivered since.
    assert balance["available_km2"] == pytest.approx(200 - req["area_km2"], abs=1e-3)
    again = member.call("POST", f"/requests/{rid}/actions", json={"action": "cancel"})
    assert again.status_code == 409


# --- 3. a deactivation by staff wins over the referent --------------------------------


def test_a_referent_cannot_reactivate_a_user_an_operator_deactivated(keyfile, operator):
    referent, member = new_member_org(keyfile, operator)
    user = {"email": f"{member.user}@labo.example.fr", "display_name": "Marie", "language": "fr"}
    path = f"/organisations/{member.org}/users/{member.user}"
    r = operator.call("PUT", path, json={**user, "active": False})
    assert r.status_code == 200 and r.json()["active"] is False, r.text
    r = referent.call("PUT", path, json={**user, "active": True}, headers={"Accept-Language": "fr"})
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "deactivated-by-staff" and "personnel" in r.json()["detail"]
    assert member.call("GET", "/me").json()["principal"]["standing"] == "user-inactive"
    assert member.call("GET", "/requests").status_code == 403
    # Staff lift it; then the referent manages the user as before.
    assert operator.call("PUT", path, json={**user, "active": True}).json()["active"] is True
    assert member.call("GET", "/requests").status_code == 200
    assert referent.call("PUT", path, json={**user, "active": False}).json()["active"] is False
    assert referent.call("PUT", path, json={**user, "active": True}).json()["active"] is True


# --- C. applications: the staff organisation's id is reserved; re-applying needs an active referent


def test_nobody_applies_as_the_staff_organisation(keyfile, operator):
    for org_id in ("dinamis", "Dinamis"):
        stranger = Caller(keyfile, uid("evil"), org_id, ["referent"], api=API)
        r = stranger.call(
            "POST",
            "/organisations",
            json=application("DINAMIS", organisation_id=org_id),
            headers={"Accept-Language": "fr"},
        )
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "reserved-identifier" and "réservé" in r.json()["detail"]
        assert stranger.call("GET", "/me").json()["principal"]["organisation_id"] is None
    assert operator.call("GET", "/organisations/dinamis").status_code == 404


def test_only_an_active_referent_reapplies_for_a_refused_organisation(keyfile, operator):
    org = uid("org")
    referent = Caller(keyfile, uid("ref"), org, ["referent", "member"], api=API)
    body = application(f"Labo {org}", organisation_id=org)
    assert referent.call("POST", "/organisations", json=body).status_code == 201
    member = Caller(keyfile, uid("usr"), org, ["member"], api=API)
    gone = Caller(keyfile, uid("usr"), org, ["member"], api=API)
    for caller in (member, gone):  # users staff invited while pending (they accepted)
        join(operator, caller)
    r = operator.call(
        "PUT",
        f"/organisations/{org}/users/{gone.user}",
        json={"email": f"{gone.user}@labo.example.fr", "display_name": "M", "active": False},
    )
    assert r.status_code == 200, r.text
    r = operator.call(
        "POST", f"/organisations/{org}/decision", json={"decision": "refuse", "reason": "dossier"}
    )
    assert r.status_code == 200 and r.json()["status"] == "refused", r.text
    stranger = Caller(keyfile, uid("usr"), org, ["referent"], api=API)
    for caller in (member, gone, stranger):
        r = caller.call("POST", "/organisations", json=body, headers={"Accept-Language": "fr"})
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "not-the-referent" and "référent" in r.json()["detail"]
        me = caller.call("GET", "/me").json()
        assert me["user"] is None or "referent" not in me["user"]["roles"]
    assert operator.call("GET", f"/organisations/{org}").json()["status"] == "refused"
    r = referent.call("POST", "/organisations", json=body)
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text


# --- B. a contractor's delegation is confirmed (and ended) by its commissioning body -----


def test_a_contractor_has_no_access_until_its_commissioning_body_confirms(keyfile, operator):
    body, body_member = new_member_org(keyfile, operator, "french-public")
    other, _ = new_member_org(keyfile, operator, "french-public")
    org = uid("org")
    contractor = Caller(keyfile, uid("ref"), org, ["referent", "member"], api=API)
    now = datetime.now(UTC)
    declared = application(
        f"Bureau {org}",
        "contractor",
        organisation_id=org,
        commissioning_organisation_id=body.org,
        contract_start=(now - timedelta(days=1)).isoformat(),
        contract_end=datetime(2126, 1, 1, tzinfo=UTC).isoformat(),
    )
    r = contractor.call("POST", "/organisations", json=declared, headers={"Accept-Language": "fr"})
    assert r.status_code == 422 and r.json()["code"] == "invalid-contract", r.text
    assert "5 ans" in r.json()["detail"]
    end = now + timedelta(days=90)
    r = contractor.call("POST", "/organisations", json={**declared, "contract_end": end.isoformat()})
    assert r.status_code == 201 and r.json()["delegation_status"] == "unconfirmed", r.text
    r = operator.call("POST", f"/organisations/{org}/decision", json={"decision": "approve"})
    assert r.status_code == 200, r.text
    # Approved, but the body never vouched for the contract: no access through it.
    assert contractor.call("GET", "/me").json()["principal"]["standing"] == "delegation-unconfirmed"
    r = contractor.call("GET", "/requests", headers={"Accept-Language": "fr"})
    assert r.status_code == 403 and r.json()["code"] == "delegation-unconfirmed", r.text
    assert "commanditaire" in r.json()["detail"]
    # Shown to the body's referents (and staff), not to its plain members nor to others.
    delegations = f"/organisations/{body.org}/delegations"
    r = body.call("GET", delegations)
    assert r.status_code == 200, r.text
    assert [(d["organisation_id"], d["delegation_status"]) for d in r.json()["delegations"]] == [
        (org, "unconfirmed")
    ]
    assert operator.call("GET", delegations).status_code == 200
    assert body_member.call("GET", delegations).status_code == 403
    assert other.call("GET", delegations).status_code == 403
    confirm = f"{delegations}/{org}/confirm"
    for caller in (body_member, other, operator, contractor):
        assert caller.call("POST", confirm).status_code == 403, caller.user
    r = other.call("POST", f"/organisations/{other.org}/delegations/{org}/confirm")
    assert r.status_code == 404 and r.json()["code"] == "delegation-not-found", r.text
    # The body's referent confirms: the contractor works until the contract end.
    r = body.call("POST", confirm)
    assert r.status_code == 200 and r.json()["delegation_status"] == "confirmed", r.text
    me = contractor.call("GET", "/me").json()["principal"]
    assert me["standing"] == "member" and datetime.fromisoformat(me["access_until"]) == end
    assert contractor.call("GET", "/requests").status_code == 200
    assert body.call("POST", confirm).status_code == 409
    # ... until the body ends it, with a reason.
    r = body.call("POST", f"{delegations}/{org}/end", json={"reason": "marché résilié"})
    assert r.status_code == 200 and r.json()["delegation_status"] == "ended", r.text
    r = contractor.call("GET", "/requests")
    assert r.status_code == 403 and r.json()["code"] == "delegation-ended", r.text
    history = operator.call("GET", f"/organisations/{org}/history").json()["history"]
    changes = [(h["change"], h["by"], h.get("why")) for h in history]
    assert (f"delegation confirmed by {body.org}", body.user, None) in changes
    assert changes[-1] == (f"delegation ended by {body.org}", body.user, "marché résilié")
    assert body.call("POST", f"{delegations}/{org}/end", json={"reason": "encore"}).status_code == 409


# --- D. invitations: nobody is enrolled without their consent --------------------------


def test_a_referent_invites_and_only_the_invitee_binds_their_account(keyfile, operator):
    referent, member = new_member_org(keyfile, operator)
    victim = Caller(keyfile, uid("usr"), uid("org"), ["referent"], api=API)
    user = {"email": "victim@labo.example.fr", "display_name": "Victime"}
    r = referent.call(
        "PUT",
        f"/organisations/{member.org}/users/{victim.user}",
        json=user,
        headers={"Accept-Language": "fr"},
    )
    assert r.status_code == 404 and r.json()["code"] == "not-a-user", r.text
    assert "invit" in r.json()["detail"]
    assert victim.call("GET", "/me").json()["user"] is None
    # An invitation binds nothing until accepted: the victim still applies for their own body.
    r = referent.call("POST", f"/organisations/{member.org}/invitations", json=user)
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    invitation = r.json()["invitation_id"]
    assert victim.call("GET", "/me").json()["user"] is None
    r = victim.call("POST", "/organisations", json=application("Labo Victime", organisation_id=victim.org))
    assert r.status_code == 201, r.text
    r = victim.call("POST", f"/invitations/{invitation}/accept")  # a user now: never moved
    assert r.status_code == 403 and r.json()["code"] == "already-a-user", r.text
    assert victim.call("GET", "/me").json()["user"]["organisation_id"] == victim.org
    # The invitee accepts with their own token (one whose e-mail is another's is refused).
    eve = Caller(keyfile, uid("usr"), member.org, ["member"], api=API, email="eve@x.example.fr")
    r = eve.call("POST", f"/invitations/{invitation}/accept")
    assert r.status_code == 403 and r.json()["code"] == "invitation-not-yours", r.text
    marie = Caller(keyfile, uid("usr"), member.org, ["member"], api=API, email="victim@labo.example.fr")
    r = marie.call("POST", f"/invitations/{invitation}/accept")
    assert r.status_code == 200 and r.json()["organisation_id"] == member.org, r.text
    assert marie.call("GET", "/requests").status_code == 200
    again = Caller(keyfile, uid("usr"), member.org, ["member"], api=API)
    assert again.call("POST", f"/invitations/{invitation}/accept").status_code == 409
    listed = referent.call("GET", f"/organisations/{member.org}/invitations").json()["invitations"]
    mine = [i for i in listed if i["invitation_id"] == invitation]
    assert [(i["status"], i["accepted_by"]) for i in mine] == [("accepted", marie.user)]
    # Withdrawn: nobody accepts it.
    r = referent.call("POST", f"/organisations/{member.org}/invitations", json=user)
    withdrawn = r.json()["invitation_id"]
    assert referent.call("DELETE", f"/organisations/{member.org}/invitations/{withdrawn}").status_code == 200
    assert again.call("POST", f"/invitations/{withdrawn}/accept").status_code == 409
    assert member.call("GET", f"/organisations/{member.org}/invitations").status_code == 403


# --- 6. supplier names are not enumerable on ingest's signed push endpoint --------------


@pytest.fixture(scope="module")
def ingest(tmp_path_factory):
    proc = start_service(
        "ingest",
        INGEST,
        tmp_path_factory.mktemp("ingest"),
        env={"DINAMIS_INGEST_SUPPLIER_SECRETS": json.dumps({"airbus": "holes-supplier-secret"})},
    )
    yield f"http://127.0.0.1:{INGEST}/v1/suppliers"
    stop_service(proc)


def test_unknown_supplier_and_bad_signature_answer_the_same(ingest):
    body = b'{"scene_id": "x"}'

    def push(supplier: str, signed: bool = True) -> httpx.Response:
        ts = str(int(time.time()))
        headers = {"X-Dinamis-Timestamp": ts, "Content-Type": "application/json"}
        if signed:
            headers["X-Dinamis-Signature"] = signature("not-the-secret", ts, body)
        return httpx.post(f"{ingest}/{supplier}/deliveries", content=body, headers=headers, timeout=10)

    known, unknown, unsigned = push("airbus"), push("acme"), push("acme", signed=False)
    assert known.status_code == unknown.status_code == unsigned.status_code == 401
    assert known.json() == unknown.json() == unsigned.json()
    assert known.headers["content-type"] == unknown.headers["content-type"]
    assert known.json()["code"] == "unauthenticated"

    # Similar timing: the same work either way (interleaved, medians, a loaded machine's margin).
    times: dict[str, list[float]] = {"airbus": [], "acme": []}
    for _ in range(21):
        for supplier in times:
            start = time.perf_counter()
            push(supplier)
            times[supplier].append(time.perf_counter() - start)
    known_s, unknown_s = (statistics.median(t) for t in times.values())
    assert abs(known_s - unknown_s) < max(0.05, 0.5 * min(known_s, unknown_s)), times

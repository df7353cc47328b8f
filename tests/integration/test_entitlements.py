"""One authority for entitlements (issue 12): the token says who, the orders service's
records say what they may do now — on every service. A role claim makes nobody staff;
suspension, deactivation and demotion bite within seconds on orders, delivery
(downloads, metalinks), notify (preferences, webhooks, live stream) and catalog signing;
a Keycloak-issued token works end to end for a registered member."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dinamis_testkit.testing import running_services
from tests.integration.identity import keycloak_url, new_user, password_token
from tests.integration.orders_api import (
    Caller,
    application,
    new_contractor_org,
    new_member_org,
    orders_api,
    uid,
)
from tests.ports import free_ports

ORDERS, DELIVERY, NOTIFY, CATALOG = free_ports(4)
API = orders_api(ORDERS)
TTL_S = 5.0  # the entitlements cache of the other services (auth_entitlements_ttl_s)


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("entitlements")
    issuer = f"{keycloak_url()}/realms/dinamis"
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_AUTH_ISSUER": issuer,
        "DINAMIS_AUTH_JWKS_URL": f"{issuer}/protocol/openid-connect/certs",
        "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS}",
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_ORDERS_CATALOG_URL": "http://127.0.0.1:9",
        "DINAMIS_CATALOG_PUBLIC_URL": f"http://127.0.0.1:{CATALOG}",
        "DINAMIS_DELIVERY_WORK_DIR": str(logs / "work"),
        "DINAMIS_NOTIFY_MONGO_DATABASE": f"notify_entitlements_{uid('db')}".replace("-", "_"),
        "DINAMIS_NOTIFY_SSE_HEARTBEAT_S": "1",
    }
    services = (("orders", ORDERS), ("delivery", DELIVERY), ("notify", NOTIFY), ("catalog", CATALOG))
    with running_services(services, logs, env):
        yield


@pytest.fixture(scope="module")
def operator(keyfile, services):
    return Caller.staff(keyfile, api=API)


def elsewhere(headers: dict) -> dict[str, Callable[[], int]]:
    """The protected routes of the other services, as `headers` would call them: their
    status (a caller in good standing gets past authorisation: 2xx, 400 or 404)."""

    def get(url: str) -> Callable[[], int]:
        return lambda: httpx.get(url, headers=headers, timeout=30).status_code

    def stream() -> int:
        with httpx.stream(
            "GET", f"http://127.0.0.1:{NOTIFY}/events/stream", headers=headers, timeout=30
        ) as r:
            return r.status_code

    def sign() -> int:
        url = f"http://127.0.0.1:{CATALOG}/sign_urls"
        return httpx.post(url, params={"urls": "http://nowhere.example/x/y"}, headers=headers).status_code

    return {
        "delivery download": get(f"http://127.0.0.1:{DELIVERY}/downloads/p-{uid('x')}"),
        "delivery metalink": get(f"http://127.0.0.1:{DELIVERY}/orders/o-{uid('x')}/products.meta4"),
        "delivery products": get(f"http://127.0.0.1:{DELIVERY}/orders/o-{uid('x')}/products"),
        "notify preferences": get(f"http://127.0.0.1:{NOTIFY}/v1/preferences"),
        "notify webhooks": get(f"http://127.0.0.1:{NOTIFY}/v1/webhooks"),
        "notify stream": stream,
        "catalog signing": sign,
    }


def statuses(caller: Caller, extra: dict[str, Callable[[], int]] | None = None) -> dict[str, int]:
    routes = {
        "orders requests": lambda: caller.call("GET", "/requests").status_code,
        "orders quota": lambda: caller.call("GET", f"/quotas/{caller.org}/pleiades-neo/2026").status_code,
        **elsewhere(caller.headers),
        **(extra or {}),
    }
    return {name: check() for name, check in routes.items()}


def refused_everywhere_within_ttl(caller: Caller, extra: dict | None = None) -> dict[str, int]:
    deadline = time.monotonic() + TTL_S + 3
    while True:
        found = statuses(caller, extra)
        if all(s == 403 for s in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_a_role_claim_for_an_unregistered_sub_makes_nobody_staff(keyfile, operator):
    _referent, member = new_member_org(keyfile, operator)
    claimer = Caller(keyfile, uid("evil"), uid("org"), ["operator", "admin"], api=API)
    forged_org = Caller(keyfile, uid("evil"), member.org, ["referent", "operator"], api=API)
    for caller in (claimer, forged_org):
        me = caller.call("GET", "/me").json()
        assert me["principal"]["organisation_id"] is None and me["principal"]["roles"] == []
        assert me["principal"]["standing"] == "not-a-member"
        for method, path, body in [
            ("GET", "/review-queue", None),
            ("GET", "/organisations", None),
            ("POST", f"/organisations/{member.org}/status", {"status": "suspended", "reason": "x"}),
            ("POST", f"/quotas/{member.org}/pleiades-neo/2026", {"km2": 1_000_000, "reason": "moi"}),
            ("GET", f"/organisations/{member.org}", None),
            ("GET", "/requests?limit=5", None),
            ("GET", "/product-orders", None),
        ]:
            r = caller.call(method, path, json=body)
            assert r.status_code == 403, (method, path, r.text)
        found = statuses(caller)
        assert set(found.values()) == {403}, found
    # It may apply (and then waits for an operator like anyone), never approve itself.
    r = claimer.call("POST", "/organisations", json=application("Labo Malin", organisation_id=claimer.org))
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    r = claimer.call("POST", f"/organisations/{claimer.org}/decision", json={"decision": "approve"})
    assert r.status_code == 403
    assert operator.call("GET", f"/organisations/{claimer.org}").json()["status"] == "pending"


def test_suspension_bites_everywhere_within_seconds(keyfile, operator):
    _, member = new_member_org(keyfile, operator)
    before = statuses(member)
    assert all(s in (200, 400, 404) for s in before.values()), before
    r = operator.call(
        "POST", f"/organisations/{member.org}/status", json={"status": "suspended", "reason": "audit"}
    )
    assert r.status_code == 200, r.text
    after = refused_everywhere_within_ttl(member)
    assert set(after.values()) == {403}, after


def test_deactivation_bites_everywhere_within_seconds(keyfile, operator):
    referent, member = new_member_org(keyfile, operator)
    assert all(s in (200, 400, 404) for s in statuses(member).values())
    r = referent.call(
        "PUT",
        f"/organisations/{member.org}/users/{member.user}",
        json={"email": f"{member.user}@labo.example.fr", "display_name": "Marie", "active": False},
    )
    assert r.status_code == 200, r.text
    after = refused_everywhere_within_ttl(member)
    assert set(after.values()) == {403}, after


def test_a_contractor_is_refused_everywhere_once_its_contract_ends(keyfile, operator):
    """Issue 12 (A): the delegation window is part of standing, not only of item access."""
    body, _ = new_member_org(keyfile, operator, "french-public")
    end = datetime.now(UTC) + timedelta(seconds=10)
    contractor = new_contractor_org(keyfile, operator, body, end)
    me = contractor.call("GET", "/me").json()["principal"]
    assert me["standing"] == "member" and datetime.fromisoformat(me["access_until"]) == end
    before = statuses(contractor)
    assert all(s in (200, 400, 404) for s in before.values()), before
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.5)
    after = refused_everywhere_within_ttl(contractor)
    assert set(after.values()) == {403}, after
    r = contractor.call("GET", "/requests")
    assert r.json()["code"] == "delegation-expired", r.text
    assert contractor.call("GET", "/me").json()["principal"]["standing"] == "delegation-expired"


def test_a_contractor_is_refused_everywhere_once_its_commissioning_body_is_suspended(keyfile, operator):
    body, _ = new_member_org(keyfile, operator, "french-public")
    contractor = new_contractor_org(keyfile, operator, body, datetime.now(UTC) + timedelta(days=90))
    assert all(s in (200, 400, 404) for s in statuses(contractor).values())
    r = operator.call(
        "POST", f"/organisations/{body.org}/status", json={"status": "suspended", "reason": "audit"}
    )
    assert r.status_code == 200, r.text
    after = refused_everywhere_within_ttl(contractor)
    assert set(after.values()) == {403}, after
    assert contractor.call("GET", "/requests").json()["code"] == "commissioning-inactive"


def test_a_demoted_operators_old_token_is_refused_within_seconds(keyfile, operator):
    admin = Caller.staff(keyfile, role="admin", api=API)
    demoted = Caller.staff(keyfile, api=API)
    _, member = new_member_org(keyfile, operator)
    assert demoted.call("GET", "/review-queue").status_code == 200
    assert httpx.get(f"http://127.0.0.1:{NOTIFY}/v1/preferences", headers=demoted.headers).status_code == 200
    r = admin.call(
        "PUT",
        f"/organisations/dinamis/users/{demoted.user}",
        json={"email": "ancien@dinamis.example.fr", "display_name": "Ancien", "roles": ["member"]},
    )
    assert r.status_code == 200, r.text
    r = demoted.call(
        "POST", f"/organisations/{member.org}/status", json={"status": "suspended", "reason": "x"}
    )
    assert r.status_code == 403, r.text
    assert demoted.call("GET", "/review-queue").status_code == 403
    after = refused_everywhere_within_ttl(demoted)
    assert set(after.values()) == {403}, after
    assert operator.call("GET", f"/organisations/{member.org}").json()["status"] == "active"


def test_a_keycloak_token_works_end_to_end_for_a_registered_member(keyfile, operator):
    sub, email = new_user("membre")
    headers = {"Authorization": f"Bearer {password_token(email)}", "Accept-Language": "en"}
    me = httpx.get(f"{API}/me", headers=headers).json()
    assert me["principal"]["user_id"] == sub and me["principal"]["organisation_id"] is None
    assert me["principal"]["email"] == email
    org = uid("org")
    r = httpx.post(
        f"{API}/organisations", json=application("Labo Keycloak", organisation_id=org), headers=headers
    )
    assert r.status_code == 201, r.text
    assert (
        operator.call("POST", f"/organisations/{org}/decision", json={"decision": "approve"}).status_code
        == 200
    )
    me = httpx.get(f"{API}/me", headers=headers).json()
    assert me["principal"]["organisation_id"] == org and me["principal"]["standing"] == "member"
    assert set(me["principal"]["roles"]) == {"member", "referent"}
    assert httpx.get(f"{API}/organisations/{org}/users", headers=headers).status_code == 200
    found = {name: check() for name, check in elsewhere(headers).items()}
    assert all(s in (200, 400, 404) for s in found.values()), found

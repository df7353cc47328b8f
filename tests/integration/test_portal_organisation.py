"""The membership application and "Mon organisation" on the real stack (orders, notify,
the portal, Keycloak, FerretDB, Kafka): a person logged in through Keycloak applies from
the portal with their department, the charter and licence accepted — orders records
them, time-stamped; an operator approves through the orders API; the referent sees the
quotas with the very ledger orders keeps; creates an API key whose secret is shown once
and then authenticates at orders' key verification, and revokes it; creates a webhook
and sends a test event that notify delivers, signed, and records in the delivery log;
a plain member of the organisation is refused the referent's sections by orders."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from dinamis_shared.signing import verify
from tests.browser.portal_stack import csrf_of, log_in
from tests.integration.identity import new_user, password_token
from tests.integration.orders_api import Caller, seed_member
from tests.integration.organisation_stack import (
    WebhookReceiver,
    organisation_stack,
    page_text,
    post,
    until,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keyfile):
    with organisation_stack(tmp_path_factory.mktemp("logs"), keyfile) as urls:
        yield urls


@pytest.fixture(scope="module")
def operator(keyfile, stack):
    return Caller.staff(keyfile, api=f"{stack.orders}/v1")


@pytest.fixture(scope="module")
def applied(stack, operator):
    """A new Keycloak user who applies from the portal, then approved by the operator."""
    sub, email = new_user("adhesion")
    browser, _ = log_in(stack.portal, email)
    form = browser.go("GET", f"{stack.portal}/adhesion")
    assert form.status_code == 200 and "charte-dinamis-2024" in form.text
    before = datetime.now(UTC)
    sent = post(browser, f"{stack.portal}/adhesion", {"csrf_token": csrf_of(form), **application_form(email)})
    assert sent.status_code == 303 and sent.headers["location"] == "/mon-organisation?fait=applied", (
        sent.text[:500]
    )
    status = page_text(browser.go("GET", f"{stack.portal}/mon-organisation"))
    assert 'id="statut">en attente d\'examen<' in status
    org_id = re.search(r"<dt>Identifiant</dt><dd><code>([^<]+)</code>", status).group(1)
    return {"sub": sub, "email": email, "browser": browser, "org": org_id, "before": before}


def application_form(email: str, **changes: str) -> dict[str, str]:
    return {
        "name": "Laboratoire de télédétection du Rhône",
        "category": "french-research",
        "department": "69",
        "country": "FR",
        "siret": "19691774400019",
        "rep_name": "Jeanne Martin",
        "rep_email": "direction@labo.example.fr",
        "rep_title": "Directrice",
        "referent_name": "Paul Référent",
        "referent_email": email,
        "accept_charter": "charte-dinamis-2024",
        "accept_licence": "licence-produits-dinamis-2024",
        **changes,
    }


def test_orders_records_the_department_and_the_time_stamped_acceptance(applied, operator):
    record = operator.call("GET", f"/organisations/{applied['org']}").json()
    assert record["department"] == "69" and record["status"] == "pending"
    acceptance = record["acceptance"]
    assert acceptance["charter_version"] == "charte-dinamis-2024"
    assert acceptance["licence_version"] == "licence-produits-dinamis-2024"
    assert acceptance["accepted_by"] == applied["sub"]
    at = datetime.fromisoformat(acceptance["accepted_at"].replace("Z", "+00:00"))
    assert applied["before"].replace(microsecond=0) <= at <= datetime.now(UTC)


def test_a_refused_application_shows_orders_reason(stack):
    _, email = new_user("adhesion-ko")
    browser, _ = log_in(stack.portal, email)
    form = browser.go("GET", f"{stack.portal}/adhesion")
    answer = post(
        browser,
        f"{stack.portal}/adhesion",
        {"csrf_token": csrf_of(form), **application_form(email, department="00")},
    )
    assert answer.status_code == 422
    text = page_text(answer)
    assert "département inconnu '00'" in text and "invalid-request" in text, text[-3000:]
    # The values are kept, the charter is to be ticked again.
    assert 'value="Laboratoire de télédétection du Rhône"' in text


@pytest.fixture(scope="module")
def approved(applied, operator):
    answer = operator.call("POST", f"/organisations/{applied['org']}/decision", json={"decision": "approve"})
    assert answer.status_code == 200, answer.text
    return applied


def test_the_portal_says_approved(stack, approved):
    status = page_text(approved["browser"].go("GET", f"{stack.portal}/mon-organisation"))
    assert 'id="statut">approuvée<' in status and "69 — Rhône" in status
    assert "charte-dinamis-2024 et licence-produits-dinamis-2024" in status
    assert "approved" in status or "approuv" in status  # the history's revision


def test_the_referent_sees_the_quotas_and_the_ledger_orders_keeps(stack, approved, operator):
    org = approved["org"]
    for body in (
        {"km2": 500.0, "reason": "dotation du trimestre"},
        {"km2": -75.5, "reason": "correction <après audit>", "adjustment": True},
    ):
        assert operator.call("POST", f"/quotas/{org}/pleiades/2026-Q4", json=body).status_code == 200
    assert (
        operator.call(
            "POST", f"/quotas/{org}/spot-6-7/2026", json={"km2": 80.0, "reason": "dotation"}
        ).status_code
        == 200
    )
    page = approved["browser"].go("GET", f"{stack.portal}/mon-organisation/quotas?quota=pleiades/2026-Q4")
    assert page.status_code == 200
    assert 'class="portal-chart" role="img"' in page.text and page.text.count("portal-chart__row") == 2
    orders_ledger = operator.call("GET", f"/quotas/{org}/pleiades/2026-Q4/ledger").json()
    shown = re.findall(r'<tr data-seq="(\d+)" data-kind="(\w+)" data-km2="([-\d.]+)">', page.text)
    assert shown == [(str(e["seq"]), e["kind"], str(e["km2"])) for e in orders_ledger["entries"]]
    assert [e["kind"] for e in orders_ledger["entries"]] == ["allocate", "adjust"]
    assert "correction &lt;après audit&gt;" in page.text and "424,5" in page_text(page)


def test_an_api_key_is_shown_once_verifies_at_orders_then_is_revoked(stack, approved):
    browser = approved["browser"]
    page = browser.go("GET", f"{stack.portal}/mon-organisation/cles-api")
    created = post(
        browser,
        f"{stack.portal}/mon-organisation/cles-api",
        {"csrf_token": csrf_of(page), "name": "script QGIS"},
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    access = re.search(r'id="access-key">([^<]+)<', created.text).group(1)
    secret = re.search(r'id="secret-key">([^<]+)<', created.text).group(1)
    pair = {"access_key": access, "secret_key": secret}
    verified = httpx.post(f"{stack.orders}/v1/api-keys/verify", json=pair, timeout=30)
    assert verified.status_code == 200 and verified.json()["user_id"] == approved["sub"]
    again = browser.go("GET", f"{stack.portal}/mon-organisation/cles-api")
    assert access in again.text and secret not in again.text  # never shown again
    revoked = post(
        browser, f"{stack.portal}/mon-organisation/cles-api/{access}/revoquer", {"csrf_token": csrf_of(again)}
    )
    assert revoked.status_code == 303
    assert httpx.post(f"{stack.orders}/v1/api-keys/verify", json=pair, timeout=30).status_code == 401
    # Another user's key id: orders says "not found", and so does the page.
    other = post(
        browser, f"{stack.portal}/mon-organisation/cles-api/dk_nope/revoquer", {"csrf_token": csrf_of(again)}
    )
    assert other.status_code == 404 and "introuvable" in page_text(other)


def test_a_webhook_test_event_is_delivered_signed_and_in_the_log(stack, approved):
    receiver = WebhookReceiver()
    try:
        browser = approved["browser"]
        page = browser.go("GET", f"{stack.portal}/mon-organisation/webhooks")

        def create() -> httpx.Response | None:
            # notify knows the referent once orders' user-changed event reached it (Kafka).
            answer = post(
                browser,
                f"{stack.portal}/mon-organisation/webhooks",
                {"csrf_token": csrf_of(page), "url": receiver.url, "description": "essai"},
            )
            return answer if answer.status_code == 201 else None

        created = until(create, 60, 1.0)
        secret = re.search(r'id="webhook-secret">([^<]+)<', created.text).group(1)
        hook_id = re.search(r'href="/mon-organisation/webhooks/(wh_[0-9a-f]+)"', created.text).group(1)
        approved["hook"] = hook_id
        hook_page = browser.go("GET", f"{stack.portal}/mon-organisation/webhooks/{hook_id}")
        sent = post(
            browser,
            f"{stack.portal}/mon-organisation/webhooks/{hook_id}/test",
            {"csrf_token": csrf_of(hook_page)},
        )
        assert sent.status_code == 303 and sent.headers["location"].endswith("?fait=webhook-test")
        until(lambda: receiver.posts, 30)
        headers, body = receiver.posts[0]
        assert verify(secret, headers["x-dinamis-timestamp"], headers["x-dinamis-signature"], body)
        event = receiver.events()[0]
        assert (
            event["type"] == "fr.dinamis.notify.webhook-test.v1" and event["data"]["endpoint_id"] == hook_id
        )

        def logged() -> str | None:
            text = browser.go("GET", f"{stack.portal}/mon-organisation/webhooks/{hook_id}").text
            return text if 'data-status="delivered" data-test="true"' in text else None

        log = until(logged, 30)
        assert "fr.dinamis.notify.webhook-test.v1" in log and "204" in log
        token = password_token(approved["email"])
        deliveries = httpx.get(
            f"{stack.notify}/v1/webhooks/{hook_id}/deliveries",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()["deliveries"]
        assert [(d["status"], d.get("test")) for d in deliveries] == [("delivered", True)]
    finally:
        receiver.close()


def test_preferences_are_saved_at_notify(stack, approved):
    browser = approved["browser"]
    page = browser.go("GET", f"{stack.portal}/mon-organisation/preferences")
    assert page.status_code == 200 and "un produit commandé est prêt" in page_text(page)
    saved = post(
        browser,
        f"{stack.portal}/mon-organisation/preferences",
        {"csrf_token": csrf_of(page), "email": ["product-ready"], "language": "en"},
    )
    assert saved.status_code == 303
    token = password_token(approved["email"])
    prefs = httpx.get(
        f"{stack.notify}/v1/preferences", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    assert prefs["email"]["product-ready"] is True and prefs["email"]["request-approved"] is False
    assert prefs["language"] == "en"


def test_a_plain_member_is_refused_the_referent_sections_by_orders(stack, approved):
    sub, email = new_user("membre-simple")
    seed_member(approved["org"], sub, ["member"], organisation=False)
    browser, _ = log_in(stack.portal, email)
    page = browser.go("GET", f"{stack.portal}/mon-organisation/utilisateurs")
    assert page.status_code == 200
    text = page_text(page)
    assert (
        text.count("Cette section est réservée aux référent·es") == 3 and 'id="utilisateurs"' not in page.text
    )
    # Trying anyway (a forged form): orders refuses, the referent stays active.
    forged = post(
        browser,
        f"{stack.portal}/mon-organisation/utilisateurs/{approved['sub']}/etat",
        {"csrf_token": csrf_of(page), "active": "0"},
    )
    assert forged.status_code == 403 and "Le service a refusé" in page_text(forged)
    token = password_token(approved["email"])
    users = httpx.get(
        f"{stack.orders}/v1/organisations/{approved['org']}/users",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()["users"]
    assert next(u for u in users if u["user_id"] == approved["sub"])["active"] is True
    # The referent's webhook is not the member's: notify answers "not found", so does the portal.
    if "hook" in approved:
        theirs = browser.go("GET", f"{stack.portal}/mon-organisation/webhooks/{approved['hook']}")
        assert theirs.status_code == 404 and "introuvable" in page_text(theirs)
        test = post(
            browser,
            f"{stack.portal}/mon-organisation/webhooks/{approved['hook']}/test",
            {"csrf_token": csrf_of(page)},
        )
        assert test.status_code == 404
        # The member still sees the status, the quotas (members read them) and their own keys.
    assert 'id="statut">approuvée<' in page_text(browser.go("GET", f"{stack.portal}/mon-organisation"))
    assert "dotation du trimestre" in page_text(browser.go("GET", f"{stack.portal}/mon-organisation/quotas"))

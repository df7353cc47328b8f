"""The membership application and "Mon organisation", with a fake of the portal's
`OrganisationApi` port (orders and notify as the pages see them): what is sent upstream
comes from the form, what is shown comes from the services — their refusals too, with
their French reason and code; the secret of a key or webhook is shown once; every form
carries the CSRF token; hostile input never reaches a URL or the page unescaped."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from starlette.datastructures import FormData

from dinamis_portal.entrypoints.organisation import application_body, quota_chart
from dinamis_portal.organisation_api import Refused

REFERENT_ONLY = Refused(403, "forbidden", "réservé aux référents de l'organisation")


class FakeOrganisationApi:
    """The services' answers, in memory; `refuse[name]` makes a call refused."""

    def __init__(self) -> None:
        self.org: dict[str, Any] | None = None
        self.calls: list[tuple[str, str, Any]] = []
        self.refuse: dict[str, Refused] = {}
        self.keys: list[dict[str, Any]] = []
        self.hooks: dict[str, dict[str, Any]] = {}
        self.deliveries_of: dict[str, list[dict[str, Any]]] = {}
        self.prefs: dict[str, Any] = {
            "email": {"request-approved": True, "product-ready": True, "request-received": False},
            "digest": False,
            "language": None,
        }
        self.users_of = [
            {
                "user_id": "sub-1",
                "email": "marie@labo.example.fr",
                "display_name": "Marie Curie",
                "language": "fr",
                "roles": ["referent", "member"],
                "active": True,
            },
            {
                "user_id": "sub-2",
                "email": "pierre@labo.example.fr",
                "display_name": "Pierre <b>Curie</b>",
                "language": "fr",
                "roles": ["member"],
                "active": True,
            },
        ]
        self.quota_list = [
            {
                "quota_id": "labo-1|pleiades|2026-Q4",
                "family": "pleiades",
                "period": "2026-Q4",
                "allocated_km2": 500.0,
                "reserved_km2": 120.0,
                "consumed_km2": 80.0,
                "available_km2": 300.0,
            },
            {
                "quota_id": "labo-1|spot-6-7|2026",
                "family": "spot-6-7",
                "period": "2026",
                "allocated_km2": 1000.0,
                "reserved_km2": 0.0,
                "consumed_km2": 0.0,
                "available_km2": 1000.0,
            },
        ]

    def _check(self, name: str, token: str, arg: Any = None) -> None:
        self.calls.append((name, token, arg))
        if name in self.refuse:
            raise self.refuse[name]

    async def terms(self) -> dict[str, Any]:
        return {
            "charter_version": "charte-dinamis-2024",
            "licence_version": "licence-produits-dinamis-2024",
            "categories": ["french-research", "french-public", "contractor"],
            "departments": [{"code": "69", "name": "Rhône"}, {"code": "2A", "name": "Corse-du-Sud"}],
        }

    async def me(self, token: str) -> dict[str, Any]:
        self._check("me", token)
        return {
            "principal": {
                "user_id": "sub-1",
                "organisation_id": self.org["organisation_id"] if self.org else None,
            },
            "organisation": self.org,
            "user": None,
        }

    async def apply(self, token: str, application: dict[str, Any]) -> dict[str, Any]:
        self._check("apply", token, application)
        self.org = {
            "organisation_id": "org-new",
            "name": application["name"],
            "category": application["category"],
            "country": "FR",
            "department": application.get("department"),
            "status": "pending",
            "acceptance": {
                "charter_version": application["accept_charter"],
                "licence_version": application["accept_licence"],
                "accepted_at": "2026-11-28T10:00:00Z",
                "accepted_by": "sub-1",
            },
            "applied_at": "2026-11-28T10:00:00Z",
        }
        return self.org

    async def organisation(self, token: str, org_id: str) -> dict[str, Any]:
        self._check("organisation", token, org_id)
        assert self.org is not None
        return self.org

    async def history(self, token: str, org_id: str) -> list[dict[str, Any]]:
        self._check("history", token, org_id)
        return [
            {"rev": 1, "at": "2026-11-28T10:00:00Z", "by": "sub-1", "why": None, "change": "applied"},
            {
                "rev": 2,
                "at": "2026-11-28T11:00:00Z",
                "by": "op-1",
                "why": "dossier complet",
                "change": "approved",
            },
        ]

    async def users(self, token: str, org_id: str) -> list[dict[str, Any]]:
        self._check("users", token, org_id)
        return self.users_of

    async def put_user(self, token: str, org_id: str, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check("put_user", token, (org_id, user_id, body))
        return body

    async def invitations(self, token: str, org_id: str) -> list[dict[str, Any]]:
        self._check("invitations", token, org_id)
        return []

    async def invite(self, token: str, org_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check("invite", token, (org_id, body))
        return {"invitation_id": "inv-1", **body}

    async def revoke_invitation(self, token: str, org_id: str, invitation_id: str) -> None:
        self._check("revoke_invitation", token, (org_id, invitation_id))

    async def delegations(self, token: str, org_id: str) -> list[dict[str, Any]]:
        self._check("delegations", token, org_id)
        return [
            {
                "organisation_id": "presta-1",
                "name": "Bureau d'études",
                "delegation": {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
                "delegation_status": "unconfirmed",
            }
        ]

    async def decide_delegation(
        self, token: str, org_id: str, contractor_id: str, confirm: bool, reason: str | None
    ) -> None:
        self._check("decide_delegation", token, (org_id, contractor_id, confirm, reason))

    async def quotas(self, token: str, org_id: str) -> list[dict[str, Any]]:
        self._check("quotas", token, org_id)
        return self.quota_list

    async def ledger(self, token: str, org_id: str, family: str, period: str) -> dict[str, Any]:
        self._check("ledger", token, (org_id, family, period))
        quota = next(q for q in self.quota_list if (q["family"], q["period"]) == (family, period))
        return {
            **quota,
            "entries": [
                {
                    "seq": 1,
                    "kind": "allocate",
                    "km2": quota["allocated_km2"],
                    "request_id": None,
                    "by": "op-1",
                    "reason": "dotation <annuelle>",
                    "at": "2026-10-01T08:00:00Z",
                    "balance_after": {"available": quota["allocated_km2"]},
                }
            ],
        }

    async def api_keys(self, token: str) -> list[dict[str, Any]]:
        self._check("api_keys", token)
        return self.keys

    async def create_api_key(self, token: str, name: str) -> dict[str, Any]:
        self._check("create_api_key", token, name)
        key = {"access_key": f"dk_{len(self.keys) + 1}", "name": name, "created_at": "2026-11-28T10:00:00Z"}
        self.keys.append({**key, "revoked_at": None})
        return {**key, "secret_key": "ds_TOP-SECRET-VALUE"}

    async def revoke_api_key(self, token: str, access_key: str) -> None:
        self._check("revoke_api_key", token, access_key)

    async def preferences(self, token: str) -> dict[str, Any]:
        self._check("preferences", token)
        return self.prefs

    async def put_preferences(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check("put_preferences", token, body)
        return body

    async def webhooks(self, token: str) -> list[dict[str, Any]]:
        self._check("webhooks", token)
        return list(self.hooks.values())

    async def create_webhook(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check("create_webhook", token, body)
        hook = {"id": "wh_1", "url": body["url"], "event_types": body["event_types"], "status": "active"}
        self.hooks["wh_1"] = hook
        return {**hook, "secret": "whsec_TOP-SECRET"}

    async def webhook(self, token: str, endpoint_id: str) -> dict[str, Any]:
        self._check("webhook", token, endpoint_id)
        if endpoint_id not in self.hooks:
            raise Refused(404, "not-found", "Webhook introuvable.")
        return self.hooks[endpoint_id]

    async def deliveries(self, token: str, endpoint_id: str) -> list[dict[str, Any]]:
        self._check("deliveries", token, endpoint_id)
        return self.deliveries_of.get(endpoint_id, [])

    async def webhook_action(self, token: str, endpoint_id: str, action: str) -> None:
        self._check(f"webhook_{action}", token, endpoint_id)
        if endpoint_id not in self.hooks:
            raise Refused(404, "not-found", "Webhook introuvable.")


@pytest.fixture
async def org(portal):
    fake = FakeOrganisationApi()
    portal.app.state.container.organisation = fake
    portal.api = fake
    return portal


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def member_of(fake: FakeOrganisationApi, status: str = "active", **extra: Any) -> None:
    fake.org = {
        "organisation_id": "labo-1",
        "name": "Laboratoire Un",
        "category": "french-research",
        "country": "FR",
        "department": "69",
        "status": status,
        "acceptance": {
            "charter_version": "charte-dinamis-2024",
            "licence_version": "licence-produits-dinamis-2024",
            "accepted_at": "2026-11-28T10:00:00Z",
            "accepted_by": "sub-1",
        },
        "applied_at": "2026-11-28T10:00:00Z",
        **extra,
    }


PAGES = (
    "/mon-organisation",
    "/mon-organisation/utilisateurs",
    "/mon-organisation/quotas",
    "/mon-organisation/cles-api",
    "/mon-organisation/webhooks",
    "/mon-organisation/preferences",
)


async def test_every_page_asks_to_log_in_first(org):
    for path in (*PAGES, "/adhesion"):
        response = await org.client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/connexion?retour=%2F"), path
    assert org.api.calls == []


async def test_the_application_shows_orders_terms_and_sends_them_with_the_department(org):
    await org.login()
    page = await org.client.get("/adhesion")
    assert page.status_code == 200
    html = unescape(page.text)
    assert "J'accepte la charte DINAMIS, version charte-dinamis-2024" in html
    assert 'value="charte-dinamis-2024"' in html and 'value="licence-produits-dinamis-2024"' in html
    assert '<option value="69">69 — Rhône</option>' in html and "Organisme public français" in html
    assert 'value="marie@labo.example.fr"' in html  # the referent's e-mail, prefilled from the login
    form = {
        "csrf_token": csrf_of(page.text),
        "name": "Laboratoire du Rhône",
        "category": "french-research",
        "department": "69",
        "country": "fr",
        "siret": "130 026 123 00013",
        "rep_name": "Jeanne Martin",
        "rep_email": "d@labo.example.fr",
        "rep_title": "Directrice",
        "referent_name": "Marie Curie",
        "referent_email": "marie@labo.example.fr",
        "accept_charter": "charte-dinamis-2024",
        "accept_licence": "licence-produits-dinamis-2024",
    }
    sent = await org.client.post("/adhesion", data=form)
    assert sent.status_code == 303 and sent.headers["location"] == "/mon-organisation?fait=applied"
    ((_, token, body),) = [c for c in org.api.calls if c[0] == "apply"]
    assert token == "ACCESS-TOKEN-SECRET"
    assert body["department"] == "69" and body["country"] == "FR" and body["siret"] == "13002612300013"
    assert body["accept_charter"] == "charte-dinamis-2024" and "commissioning_organisation_id" not in body
    status = unescape((await org.client.get(sent.headers["location"])).text)
    assert "Votre demande d'adhésion a été enregistrée" in status
    assert 'id="statut">en attente d\'examen<' in status and "69 — Rhône" in status
    assert "charte-dinamis-2024 et licence-produits-dinamis-2024, le 28 novembre 2026" in status


async def test_an_application_refused_by_orders_is_shown_with_its_reasons_and_the_values_kept(org):
    await org.login()
    page = await org.client.get("/adhesion")
    org.api.refuse["apply"] = Refused(
        422,
        "invalid-request",
        "La requête est invalide / the request is invalid.",
        ("department : département inconnu '00'",),
    )
    form = {"csrf_token": csrf_of(page.text), "name": "<script>x</script>", "department": "00"}
    answer = await org.client.post("/adhesion", data=form)
    assert answer.status_code == 422
    assert "département inconnu" in unescape(answer.text) and "invalid-request" in answer.text
    assert "<script>x</script>" not in answer.text and "&lt;script&gt;x&lt;/script&gt;" in answer.text
    # Not ticked: nothing accepted is sent (orders refuses it; the portal does not decide).
    ((_, _, body),) = [c for c in org.api.calls if c[0] == "apply"]
    assert body["accept_charter"] == "" and body["accept_licence"] == ""


def test_application_body_mapping():
    form = FormData(
        [
            ("name", " Labo "),
            ("category", "contractor"),
            ("department", "abroad"),
            ("commissioning", "org-body"),
            ("contract_start", "2026-01-01"),
            ("contract_end", "not a date"),
        ]
    )
    body = application_body(form)
    assert body["name"] == "Labo" and "department" not in body
    assert body["commissioning_organisation_id"] == "org-body"
    assert body["contract_start"] == "2026-01-01T00:00:00Z" and body["contract_end"] == "not a date"


@pytest.mark.parametrize(
    ("status", "badge", "extra"),
    [
        ("pending", "en attente d'examen", {}),
        ("active", "approuvée", {"valid_until": "2029-11-28T00:00:00Z"}),
        ("refused", "refusée", {"reason": "SIRET inconnu <b>"}),
        ("suspended", "suspendue", {"reason": "audit"}),
        ("expired", "expirée", {}),
    ],
)
async def test_the_status_page_says_each_status_and_the_reason(org, status, badge, extra):
    member_of(org.api, status, **extra)
    await org.login()
    html = unescape((await org.client.get("/mon-organisation")).text)
    assert f'id="statut">{badge}<' in html
    if "reason" in extra:
        assert (
            extra["reason"].replace("<b>", "") in html
            and "<b>" not in (await org.client.get("/mon-organisation")).text.split('id="motif"')[1][:60]
        )
    assert "dossier complet" in html and "approved" in html  # the history, newest first
    assert html.index("dossier complet") < html.index("applied")


async def test_a_user_without_organisation_is_sent_to_the_application(org):
    await org.login()
    html = unescape((await org.client.get("/mon-organisation")).text)
    assert "Vous n'êtes rattaché·e à aucune organisation" in html and 'href="/adhesion"' in html
    member_of(org.api)
    again = await org.client.get("/adhesion")
    assert again.status_code == 303 and again.headers["location"] == "/mon-organisation"


async def test_a_plain_member_sees_the_referent_sections_refused_with_orders_reason(org):
    member_of(org.api)
    for name in ("users", "invitations", "delegations"):
        org.api.refuse[name] = REFERENT_ONLY
    await org.login()
    html = unescape((await org.client.get("/mon-organisation/utilisateurs")).text)
    assert html.count("réservé aux référents de l'organisation") == 3 and "forbidden" in html
    assert 'id="utilisateurs"' not in html
    # A forged post is decided by orders too: refused, shown, nothing changed.
    org.api.refuse["put_user"] = REFERENT_ONLY
    org.api.refuse.pop("users")
    answer = await org.client.post(
        "/mon-organisation/utilisateurs/sub-2/etat", data={"csrf_token": csrf_of(html), "active": "0"}
    )
    assert answer.status_code == 403 and "réservé aux référents" in unescape(answer.text)


async def test_the_referent_deactivates_a_user_invites_and_confirms_a_delegation(org):
    member_of(org.api)
    await org.login()
    page = await org.client.get("/mon-organisation/utilisateurs")
    assert "Pierre &lt;b&gt;Curie&lt;/b&gt;" in page.text  # names are escaped
    csrf = csrf_of(page.text)
    done = await org.client.post(
        "/mon-organisation/utilisateurs/sub-2/etat", data={"csrf_token": csrf, "active": "0"}
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?fait=user")
    ((_, _, (org_id, user_id, body)),) = [c for c in org.api.calls if c[0] == "put_user"]
    assert (org_id, user_id) == ("labo-1", "sub-2")
    assert body == {
        "email": "pierre@labo.example.fr",
        "display_name": "Pierre <b>Curie</b>",
        "language": "fr",
        "roles": ["member"],
        "active": False,
    }
    missing = await org.client.post(
        "/mon-organisation/utilisateurs/nobody/etat", data={"csrf_token": csrf, "active": "1"}
    )
    assert missing.status_code == 404
    await org.client.post(
        "/mon-organisation/invitations",
        data={
            "csrf_token": csrf,
            "email": "new@labo.example.fr",
            "display_name": "Nouvelle",
            "referent": "1",
        },
    )
    ((_, _, (_, invitation)),) = [c for c in org.api.calls if c[0] == "invite"]
    assert invitation["roles"] == ["member", "referent"]
    await org.client.post("/mon-organisation/delegations/presta-1/confirmer", data={"csrf_token": csrf})
    await org.client.post(
        "/mon-organisation/delegations/presta-1/terminer", data={"csrf_token": csrf, "reason": "fin"}
    )
    decisions = [c[2] for c in org.api.calls if c[0] == "decide_delegation"]
    assert decisions == [("labo-1", "presta-1", True, None), ("labo-1", "presta-1", False, "fin")]
    unknown = await org.client.post(
        "/mon-organisation/delegations/presta-1/effacer", data={"csrf_token": csrf}
    )
    assert unknown.status_code == 404


async def test_quotas_table_chart_and_ledger_come_from_orders(org):
    member_of(org.api)
    await org.login()
    page = await org.client.get("/mon-organisation/quotas")
    html = unescape(page.text)
    assert 'role="img"' in page.text and '<title id="chart-title">' in page.text
    # The chart's bars are to scale (the largest allocation fills the span) and in order.
    bars = re.findall(r'<rect class="portal-bar--(\w+)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', page.text)
    assert [b[0] for b in bars[:3]] == ["consumed", "reserved", "available"]
    widths = [float(b[2]) for b in bars[:6]]
    assert widths[0] * 1.5 == pytest.approx(widths[1])  # 80 vs 120 km²
    assert sum(widths[3:6]) == pytest.approx(2 * sum(widths[0:3]))  # 1000 vs 500 km² allocated
    assert "Pléiades 2026-Q4" in html and "SPOT 6/7 2026" in html and "1\u202f000" in html
    # The ledger of the first quota by default, its reason escaped.
    assert "Journal du quota Pléiades 2026-Q4" in html and "dotation <annuelle>" in html
    assert "dotation &lt;annuelle&gt;" in page.text
    other = unescape(
        (await org.client.get("/mon-organisation/quotas", params={"quota": "spot-6-7/2026"})).text
    )
    assert "Journal du quota SPOT 6/7 2026" in other
    # A quota that is not the organisation's is never asked for: the first one is shown.
    await org.client.get("/mon-organisation/quotas", params={"quota": "../../v1/api-keys"})
    assert all(
        c[2][1:] in (("pleiades", "2026-Q4"), ("spot-6-7", "2026")) for c in org.api.calls if c[0] == "ledger"
    )
    org.api.refuse["quotas"] = Refused(403, "forbidden", "données d'une autre organisation")
    refused = unescape((await org.client.get("/mon-organisation/quotas")).text)
    assert "données d'une autre organisation" in refused


def test_quota_chart_geometry():
    chart = quota_chart([{"allocated_km2": 0, "consumed_km2": 0, "reserved_km2": 0, "available_km2": 0}], str)
    assert all(p["width"] == 0 for p in chart["bars"][0]["parts"])  # nothing allocated: no division by zero


async def test_an_api_key_secret_is_shown_once_and_never_kept(org):
    member_of(org.api)
    await org.login()
    page = await org.client.get("/mon-organisation/cles-api")
    csrf = csrf_of(page.text)
    created = await org.client.post(
        "/mon-organisation/cles-api", data={"csrf_token": csrf, "name": "script <x>"}
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    assert "ds_TOP-SECRET-VALUE" in created.text and "il ne sera plus jamais affiché" in unescape(
        created.text
    )
    again = await org.client.get("/mon-organisation/cles-api")
    assert (
        "ds_TOP-SECRET-VALUE" not in again.text and "dk_1" in again.text and "script &lt;x&gt;" in again.text
    )
    assert all("TOP-SECRET" not in str(r) for r in org.store.records.values())  # not in the session
    revoked = await org.client.post("/mon-organisation/cles-api/dk_1/revoquer", data={"csrf_token": csrf})
    assert revoked.status_code == 303 and revoked.headers["location"].endswith("?fait=key-revoked")
    # Someone else's key: orders answers 404, shown as such.
    org.api.refuse["revoke_api_key"] = Refused(404, "not-found", "clé d'API 'dk_9' introuvable")
    other = await org.client.post("/mon-organisation/cles-api/dk_9/revoquer", data={"csrf_token": csrf})
    assert other.status_code == 404 and "introuvable" in other.text
    # An id that could leave its path segment never reaches the service.
    calls = len(org.api.calls)
    await org.client.post("/mon-organisation/cles-api/..%2Fadmin/revoquer", data={"csrf_token": csrf})
    assert not any(c[0] == "revoke_api_key" and "/" in str(c[2]) for c in org.api.calls[calls:])


async def test_webhooks_created_tested_and_their_delivery_log(org):
    member_of(org.api)
    await org.login()
    page = await org.client.get("/mon-organisation/webhooks")
    csrf = csrf_of(page.text)
    created = await org.client.post(
        "/mon-organisation/webhooks",
        data={"csrf_token": csrf, "url": "https://hooks.example.fr/x", "events": ["product-ready", "evil"]},
    )
    assert created.status_code == 201 and "whsec_TOP-SECRET" in created.text
    assert created.headers["cache-control"] == "no-store"
    ((_, _, body),) = [c for c in org.api.calls if c[0] == "create_webhook"]
    assert body["event_types"] == ["product-ready"]  # only the names notify knows are passed on
    assert "whsec_TOP-SECRET" not in (await org.client.get("/mon-organisation/webhooks")).text
    org.api.deliveries_of["wh_1"] = [
        {
            "id": "dl_1",
            "event_type": "fr.dinamis.notify.webhook-test.v1",
            "test": True,
            "status": "delivered",
            "attempts": 1,
            "created_at": "2026-11-28T10:00:00Z",
            "attempt_log": [{"attempt": 1, "outcome": "delivered", "status_code": 204, "error": None}],
        }
    ]
    tested = await org.client.post("/mon-organisation/webhooks/wh_1/test", data={"csrf_token": csrf})
    assert (
        tested.status_code == 303
        and tested.headers["location"] == "/mon-organisation/webhooks/wh_1?fait=webhook-test"
    )
    log = unescape((await org.client.get(tested.headers["location"])).text)
    assert "Un événement de test a été envoyé" in log and "fr.dinamis.notify.webhook-test.v1" in log
    assert 'data-status="delivered" data-test="true"' in log and "204" in log
    org.api.refuse["webhook_test"] = Refused(409, "test-event-pending", "Un événement de test attend encore.")
    busy = await org.client.post("/mon-organisation/webhooks/wh_1/test", data={"csrf_token": csrf})
    assert busy.status_code == 409 and "test-event-pending" in busy.text
    # Another user's webhook: notify says 404, so does the portal.
    assert (await org.client.get("/mon-organisation/webhooks/wh_other")).status_code == 404
    assert (
        await org.client.post("/mon-organisation/webhooks/wh_other/supprimer", data={"csrf_token": csrf})
    ).status_code == 404
    assert (
        await org.client.post("/mon-organisation/webhooks/wh_1/pirater", data={"csrf_token": csrf})
    ).status_code == 404
    deleted = await org.client.post("/mon-organisation/webhooks/wh_1/supprimer", data={"csrf_token": csrf})
    assert deleted.headers["location"] == "/mon-organisation/webhooks?fait=webhook-delete"


async def test_preferences_are_notify_kinds_ticked_or_not(org):
    member_of(org.api)
    await org.login()
    page = await org.client.get("/mon-organisation/preferences")
    html = unescape(page.text)
    assert "un produit commandé est prêt" in html and "ma demande est approuvée" in html
    assert "résumé périodique" not in html  # not an operator: notify lists no operations kind
    saved = await org.client.post(
        "/mon-organisation/preferences",
        data={"csrf_token": csrf_of(page.text), "email": ["product-ready", "made-up"], "language": "en"},
    )
    assert saved.status_code == 303
    ((_, _, body),) = [c for c in org.api.calls if c[0] == "put_preferences"]
    assert body == {
        "email": {"request-approved": False, "product-ready": True, "request-received": False},
        "digest": False,
        "language": "en",
    }


async def test_every_form_needs_the_csrf_token(org):
    member_of(org.api)
    await org.login()
    for path in (
        "/adhesion",
        "/mon-organisation/utilisateurs/sub-2/etat",
        "/mon-organisation/invitations",
        "/mon-organisation/invitations/inv-1/retirer",
        "/mon-organisation/delegations/presta-1/confirmer",
        "/mon-organisation/cles-api",
        "/mon-organisation/cles-api/dk_1/revoquer",
        "/mon-organisation/webhooks",
        "/mon-organisation/webhooks/wh_1/test",
        "/mon-organisation/preferences",
    ):
        answer = await org.client.post(path, data={"csrf_token": "forged", "name": "x"})
        assert answer.status_code == 403, path
    assert not [c for c in org.api.calls if c[0] not in ("me",)]


async def test_pages_have_no_inline_script_or_style_and_english_works(org):
    member_of(org.api)
    await org.login()
    for path in (*PAGES, "/adhesion?x=1"):
        response = await org.client.get(path)
        assert response.status_code in (200, 303), path
        assert "<style" not in response.text and " style=" not in response.text, path
        for tag in re.findall(r"<script\b[^>]*>", response.text):
            assert "src=" in tag, (path, tag)
    en = await org.client.get("/mon-organisation/quotas", params={"lang": "en"})
    assert "Ledger of quota Pléiades 2026-Q4" in unescape(en.text) and "My organisation" in en.text


async def test_a_service_outage_is_a_503_page_not_a_500(org):
    member_of(org.api)
    org.api.refuse["me"] = Refused(
        503, "orders-unavailable", "le service des commandes et adhésions ne répond pas"
    )
    await org.login()
    answer = await org.client.get("/mon-organisation", headers={"accept": "text/html"})
    assert answer.status_code == 503 and "ne répond pas" in unescape(answer.text)

"""The authorisation matrix of the whole platform, generated from the OpenAPI of every
service (issue 12): orders, delivery, notify, catalog (STAC + signing) and reporting are started,
each `/openapi.json` is read, and every route (method x path) is called as each subject
— anonymous, a never-registered user, a member of a suspended organisation, a
deactivated user, a demoted operator's old token, a contractor after its contract end,
a member of another organisation, a member, a referent, an operator, an admin — with
tokens issued by Keycloak. Path parameters are real ids of records made here (an
organisation, an acquisition request, a product order, an API key, a webhook, a
catalogue item) or plausible ids where 404 is the right answer; request bodies are
minimal valid bodies generated from the OpenAPI schemas (a few chosen by hand, below).

What each subject should get is the declarative table `ROUTES` (route -> rule). A route
in an OpenAPI but not in the table fails the test (new routes must be classified); every
mismatch is reported at once, as a table."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dinamis_shared.settings import ServiceSettings
from dinamis_testkit.examples import lyon_item
from dinamis_testkit.testing import start_service, stop_service
from tests.integration.identity import new_user, password_token
from tests.integration.orders_api import (
    application,
    ensure_staff,
    seed_member,
    set_organisation_status,
    square,
    tasking,
    uid,
)
from tests.integration.scenes import index_item
from tests.ports import free_ports

ORDERS, DELIVERY, NOTIFY, CATALOG, REPORTING = free_ports(5)
BASE = {
    "orders": f"http://127.0.0.1:{ORDERS}",
    "delivery": f"http://127.0.0.1:{DELIVERY}",
    "notify": f"http://127.0.0.1:{NOTIFY}",
    "catalog": f"http://127.0.0.1:{CATALOG}",
    "reporting": f"http://127.0.0.1:{REPORTING}",
}
# Where users reach the object store (archive hrefs, signed URLs).
STORE = ServiceSettings().s3_public_url

# --- the subjects -------------------------------------------------------------------

SUBJECTS = (
    "anonymous",
    "unregistered",  # a valid Keycloak token for a sub the orders service never heard of
    "suspended",  # member of a suspended organisation
    "deactivated",  # a user of the owners' organisation, deactivated
    "demoted",  # an operator's token taken before an admin made them a plain member
    "contractor-ended",  # referent of a contractor organisation whose contract ended
    "other-org",  # referent and member of another (active) organisation
    "member",  # the owners' organisation: the records below are this member's
    "referent",
    "operator",
    "admin",
)
NOT_IN_STANDING = frozenset({"unregistered", "suspended", "deactivated", "demoted", "contractor-ended"})
STAFF = frozenset({"operator", "admin"})
OWNERS = frozenset({"member", "referent"})

# --- the table: who may call what -----------------------------------------------------
#
# Rules (what a subject must get; "ok" = 2xx, or one of the route's `also` statuses):
#   public         everyone ok (anonymous too)
#   authenticated  anonymous 401; anyone with a valid token ok, whatever their standing
#   newcomer       anonymous 401; a sub unknown to the platform ok; users (staff too) 403
#   standing       anonymous 401; not in good standing 403; in good standing ok
#   members        as standing, but staff 403 (they ask for imagery only through a member body)
#   own-org        as standing, but the owners' organisation and staff only: other-org 403/404
#   referent       the owners' referent and staff; a plain member 403
#   body-referent  the owners' referent only (staff and a plain member 403)
#   author-or-ref  the request's author (member) or the owners' referent; staff 403/404 too
#   owner          the record's owner (member) only; everyone else 403/404 (staff too)
#   owner-or-staff the record's owner (member) and staff; everyone else 403/404
#   staff          operators and admins; everyone else 403 (anonymous 401)
#   admin          admins only; everyone else 403 (anonymous 401)
#   service        the platform's service clients only: every user 403 (anonymous 401)


@dataclass(frozen=True)
class Rule:
    kind: str
    also: frozenset[int] = frozenset()  # statuses that mean "let through" here (404, 409...)
    why: str = ""


def rule(kind: str, *also: int, why: str = "") -> Rule:
    return Rule(kind, frozenset(also), why)


ROUTES: dict[str, Rule] = {
    # every service
    **{f"{svc} GET {path}": rule("public") for svc in BASE for path in ("/healthz", "/readyz", "/metrics")},
    # orders: membership
    "orders POST /v1/organisations": rule(
        "newcomer", why="applying: anyone authenticated not yet a user (others: 403 already-a-user)"
    ),
    "orders GET /v1/organisations": rule("standing", why="staff: all; others: their own"),
    "orders GET /v1/organisations/{org_id}": rule("own-org"),
    "orders GET /v1/organisations/{org_id}/history": rule("own-org"),
    "orders POST /v1/organisations/{org_id}/decision": rule("staff", 409, why="not pending: 409"),
    "orders POST /v1/organisations/{org_id}/status": rule("staff", 409, why="active -> active: 409"),
    "orders GET /v1/organisations/{org_id}/users": rule("referent"),
    "orders PUT /v1/organisations/{org_id}/users/{user_id}": rule("referent"),
    "orders GET /v1/organisations/{org_id}/delegations": rule("referent"),
    "orders POST /v1/organisations/{org_id}/invitations": rule("referent"),
    "orders GET /v1/organisations/{org_id}/invitations": rule("referent"),
    "orders DELETE /v1/organisations/{org_id}/invitations/{invitation_id}": rule(
        "referent", 404, why="plausible invitation id: 404"
    ),
    "orders POST /v1/invitations/{invitation_id}/accept": rule(
        "newcomer", 404, why="plausible invitation id: 404 (users: 403 already-a-user)"
    ),
    "orders POST /v1/organisations/{org_id}/delegations/{contractor_id}/confirm": rule(
        "body-referent", 409, why="already confirmed (and over): 409"
    ),
    "orders POST /v1/organisations/{org_id}/delegations/{contractor_id}/end": rule(
        "referent", 409, why="ended once: then 409"
    ),
    "orders GET /v1/me": rule("authenticated"),
    "orders GET /v1/membership/terms": rule("public", why="the versions and lists an application form shows"),
    "orders GET /v1/api-keys": rule("standing"),
    "orders POST /v1/api-keys": rule("standing"),
    "orders DELETE /v1/api-keys/{access_key}": rule("owner-or-staff"),
    "orders POST /v1/api-keys/verify": rule("public", why="the key pair in the body is the credential"),
    "orders POST /v1/access/items": rule("authenticated", why="about oneself"),
    "orders POST /v1/access/whoami": rule("authenticated", why="about oneself"),
    "orders POST /v1/internal/events/verify": rule("service", why="consumers' client-credentials tokens"),
    # orders: quotas, requests, product orders
    "orders GET /v1/quotas/{org_id}/{family}/{period}": rule("own-org"),
    "orders POST /v1/quotas/{org_id}/{family}/{period}": rule("staff"),
    "orders GET /v1/quotas/{org_id}": rule("own-org"),
    "orders GET /v1/quotas/{org_id}/{family}/{period}/ledger": rule("own-org"),
    "orders POST /v1/requests/quote": rule("members"),
    "orders POST /v1/requests": rule("members"),
    "orders GET /v1/requests": rule("standing"),
    "orders GET /v1/review-queue": rule("staff"),
    "orders GET /v1/quotas": rule("staff", why="the ops console's quotas across organisations"),
    "orders GET /v1/staff": rule("staff", why="the ops console's staff accounts (read-only for operators)"),
    "orders PUT /v1/staff/{user_id}": rule(
        "admin", why="staff accounts: admins only, decided from the records"
    ),
    "orders GET /v1/requests/{request_id}": rule("own-org"),
    "orders GET /v1/requests/{request_id}/history": rule("own-org"),
    "orders GET /v1/requests/{request_id}/coverage": rule("own-org"),
    "orders GET /v1/requests/{request_id}/review": rule("staff", why="the ops console's review checks"),
    "orders POST /v1/requests/{request_id}/actions": rule(
        "staff", 409, why="start_review: operators (once: then 409)"
    ),
    "orders POST /v1/requests/{request_id}/cofinancing/confirm": rule(
        "author-or-ref", 409, why="nothing to co-finance: 409"
    ),
    "orders POST /v1/product-orders": rule("standing", 429, why="daily limit: 429"),
    "orders GET /v1/product-orders": rule("standing"),
    "orders GET /v1/product-orders/{order_id}": rule("own-org"),
    "orders POST /v1/product-orders/quote": rule("standing", why="same checks as placing, nothing reserved"),
    "orders GET /v1/product-orders/{order_id}/history": rule("own-org"),
    # delivery (no product built here: a plausible product id, the real order id)
    "delivery GET /downloads/{product_id}": rule("standing", 404, why="plausible product id"),
    "delivery GET /orders/{order_id}/products": rule("own-org", 404, why="not built yet: 404"),
    "delivery GET /orders/{order_id}/products.meta4": rule("own-org", 404, why="not built yet: 404"),
    # notify
    "notify GET /v1/staff/webhooks/failing": rule("staff", why="the ops console's failing webhooks"),
    "notify GET /v1/preferences": rule("standing"),
    # reporting: aggregates for everyone, every breakdown for the working group (staff here;
    # the governance standing is tested in test_reporting.py)
    "reporting GET /v1/indicators": rule("public"),
    "reporting GET /v1/indicators/{name}": rule("public"),
    "reporting GET /v1/wg/indicators/{name}": rule("staff"),
    "reporting GET /v1/summary": rule("public"),
    "reporting GET /v1/archive": rule("staff", why="per-topic event times: the working group's"),
    "reporting GET /v1/notes/{year}.pdf": rule("public"),
    "notify PUT /v1/preferences": rule("standing"),
    "notify GET /v1/notifications": rule("standing"),
    "notify GET /v1/webhooks": rule("standing"),
    "notify POST /v1/webhooks": rule("standing"),
    "notify GET /v1/webhooks/{endpoint_id}": rule("owner"),
    "notify DELETE /v1/webhooks/{endpoint_id}": rule("owner", 404, why="deleted once: then 404"),
    "notify POST /v1/webhooks/{endpoint_id}/reactivate": rule("owner"),
    "notify GET /v1/webhooks/{endpoint_id}/deliveries": rule("owner"),
    "notify POST /v1/webhooks/{endpoint_id}/test": rule("owner", 409, why="one test at a time: then 409"),
    "notify GET /events/stream": rule("standing"),
    # catalog: the STAC API and previews are public; signing needs standing
    **{
        f"catalog GET {path}": rule("public")
        for path in (
            "/",
            "/conformance",
            "/collections",
            "/collections/{collection_id}",
            "/collections/{collection_id}/items",
            "/collections/{collection_id}/items/{item_id}",
            "/collections/{collection_id}/queryables",
            "/queryables",
            "/search",
            "/_mgmt/ping",
            "/_mgmt/health",
        )
    },
    "catalog POST /search": rule("public"),
    "catalog GET /previews/{collection}/{item_id}/{asset}": rule(
        "public", 404, why="no preview object stored for this test item"
    ),
    "catalog POST /sign_urls": rule("standing"),
    "catalog POST /sign_urls_put": rule(
        "standing", 400, why="the member's own upload prefix: others get 400 outside-upload-prefix"
    ),
}


def expected(route_rule: Rule, subject: str) -> tuple[str, frozenset[int]]:
    """("ok", extra statuses) or ("deny", the statuses a refusal may have)."""
    kind = route_rule.kind
    ok = ("ok", route_rule.also)
    if kind == "public":
        return ok
    if subject == "anonymous":
        return ("deny", frozenset({401}))
    if kind == "authenticated":
        return ok
    if kind == "newcomer":
        return ok if subject == "unregistered" else ("deny", frozenset({403}))
    if subject in NOT_IN_STANDING:
        hidden = kind in ("owner", "owner-or-staff")  # about one's own records: 403 or 404
        return ("deny", frozenset({403, 404}) if hidden else frozenset({403}))
    if kind == "standing" or (kind == "members" and subject not in STAFF):
        return ok
    allowed = {
        "own-org": OWNERS | STAFF,
        "referent": {"referent"} | STAFF,
        "body-referent": {"referent"},
        "author-or-ref": OWNERS,
        "owner": {"member"},
        "owner-or-staff": {"member"} | STAFF,
        "staff": STAFF,
        "admin": {"admin"},
        "members": set(),
        "service": set(),
    }[kind]
    if subject in allowed:
        return ok
    if kind in ("staff", "admin", "members", "service") or (kind == "referent" and subject in OWNERS):
        return ("deny", frozenset({403}))
    if kind == "body-referent" and subject in OWNERS | STAFF:
        return ("deny", frozenset({403}))
    return ("deny", frozenset({403, 404}))


# --- calling as a subject ---------------------------------------------------------------


class Subject:
    """A Keycloak user (or nobody): its token, taken again when it gets old (`renew`)."""

    def __init__(self, name: str, email: str | None, renew: Callable[[], str] | None = None) -> None:
        self.name, self.email = name, email
        self._renew = renew or (lambda: password_token(email) if email else "")
        self.token, self.taken = self._renew(), time.monotonic()

    @property
    def headers(self) -> dict[str, str]:
        if self.email and time.monotonic() - self.taken > 200:  # Keycloak's tokens live 300 s
            self.token, self.taken = self._renew(), time.monotonic()
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def call(subject: Subject, method: str, url: str, **kwargs: Any) -> httpx.Response:
    headers = {"Accept-Language": "en", **subject.headers, **kwargs.pop("headers", {})}
    return httpx.request(method, url, headers=headers, timeout=30, **kwargs)


def status_of(subject: Subject, method: str, url: str, **kwargs: Any) -> tuple[int, str]:
    headers = {"Accept-Language": "en", **subject.headers}
    if url.endswith("/events/stream"):  # a live stream: the status line is the answer
        with httpx.stream(method, url, headers=headers, timeout=30) as r:
            return r.status_code, ""
    r = httpx.request(method, url, headers=headers, timeout=30, **kwargs)
    return r.status_code, r.text[:100].replace("\n", " ")


# --- bodies from the OpenAPI schemas ------------------------------------------------------


def minimal(schema: dict, spec: dict, depth: int = 0) -> Any:
    """A minimal instance of a JSON schema (required properties only)."""
    if depth > 12:
        return None
    if "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return minimal(node, spec, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return minimal(options[0], spec, depth + 1)
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            value = minimal(part, spec, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: minimal(props[k], spec, depth + 1) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return [minimal(schema.get("items", {}), spec, depth + 1) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "date-time":
        return datetime.now(UTC).isoformat()
    if fmt == "email":
        return "x@example.fr"
    return "x" * max(3, int(schema.get("minLength", 3)))


# --- the records the routes are about ------------------------------------------------------


@dataclass
class World:
    subjects: dict[str, Subject]
    ids: dict[str, str]
    bodies: dict[str, Any] = field(default_factory=dict)
    params: dict[str, dict] = field(default_factory=dict)
    path_ids: dict[str, dict[str, str]] = field(default_factory=dict)  # a route's own ids


@pytest.fixture(scope="module")
def services(tmp_path_factory, keyfile):
    logs = tmp_path_factory.mktemp("matrix")
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": BASE["orders"],
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_ORDERS_CATALOG_URL": BASE["catalog"],
        "DINAMIS_CATALOG_PUBLIC_URL": BASE["catalog"],
        "DINAMIS_DELIVERY_WORK_DIR": str(logs / "work"),
        "DINAMIS_NOTIFY_MONGO_DATABASE": f"notify_matrix_{uid('db')}".replace("-", "_"),
        # the reporting's routes only: no archive consumer, a lake of its own
        "DINAMIS_REPORTING_ARCHIVE_ENABLED": "false",
        "DINAMIS_REPORTING_LAKE_DIR": str(logs / "lake"),
    }
    procs = []
    try:
        for name, port in (
            ("orders", ORDERS),
            ("catalog", CATALOG),
            ("delivery", DELIVERY),
            ("notify", NOTIFY),
            ("reporting", REPORTING),
        ):
            procs.append(start_service(name, port, logs, env=env))
        yield
    finally:
        for proc in reversed(procs):
            stop_service(proc)


async def catalogue_item(settings) -> dict:
    """A catalogue item (announced as ingested, indexed by the catalog), as served."""
    doc = lyon_item()
    doc["id"] = f"ITEM-{uuid.uuid4().hex[:10]}"
    doc["geometry"] = square(4.80, 45.70, 0.05)
    doc["bbox"] = [4.80, 45.70, 4.85, 45.75]
    when = datetime.now(UTC) - timedelta(days=30)
    key = f"pleiades-neo-ortho/{when:%Y/%m/%d}/{doc['id']}/v1/ms.tif"  # an archive object's key
    doc["assets"]["ms"]["href"] = f"{STORE}/archive/{key}"
    doc["properties"].update(
        {"datetime": when.isoformat().replace("+00:00", "Z"), "constellation": "pleiades-neo"}
    )
    return await index_item(settings, BASE["catalog"], doc, source="/tests/matrix")


@pytest.fixture(scope="module")
async def world(services, settings) -> World:
    orders = BASE["orders"] + "/v1"
    item = await catalogue_item(settings)
    return await asyncio.to_thread(build_world, orders, item)


def build_world(orders: str, item: dict) -> World:
    def keycloak(prefix: str) -> tuple[str, str]:
        return new_user(prefix)

    subjects: dict[str, Subject] = {"anonymous": Subject("anonymous", None)}
    # Staff: the first admin as the platform bootstraps it, then through the API (so
    # notify's directory, fed by `user-changed`, knows them as it would in production).
    admin_sub, email = keycloak("admin")
    ensure_staff(admin_sub, ["admin"])
    admin = subjects["admin"] = Subject("admin", email)

    def staff_account(sub: str, email: str, roles: list[str]) -> None:
        r = call(
            admin,
            "PUT",
            f"{orders}/organisations/dinamis/users/{sub}",
            json={"email": email, "display_name": "Personnel", "roles": roles},
        )
        assert r.status_code == 200, r.text

    staff_account(admin_sub, email, ["admin"])
    sub, email = keycloak("operator")
    staff_account(sub, email, ["operator"])
    operator = subjects["operator"] = Subject("operator", email)

    def approve(org: str) -> None:
        r = call(operator, "POST", f"{orders}/organisations/{org}/decision", json={"decision": "approve"})
        assert r.status_code == 200 and r.json()["status"] == "active", r.text

    def organisation(referent: Subject, category: str) -> str:
        """Applied for by `referent`, approved by the operator."""
        org = uid("org")
        r = call(
            referent,
            "POST",
            f"{orders}/organisations",
            json=application(f"Labo {org}", category, organisation_id=org),
        )
        assert r.status_code == 201, r.text
        approve(org)
        return org

    # The owners' organisation (a French public body: it may commission contractors),
    # through the API: its referent applies, an operator approves, the referent adds the member.
    referent = subjects["referent"] = Subject("referent", keycloak("referent")[1])
    org = organisation(referent, "french-public")

    def join(subject: Subject, display_name: str) -> None:
        """The referent invites `subject`, who accepts with their own token."""
        r = call(
            referent,
            "POST",
            f"{orders}/organisations/{org}/invitations",
            json={"email": subject.email, "display_name": display_name, "language": "fr"},
        )
        assert r.status_code == 201, r.text
        r = call(subject, "POST", f"{orders}/invitations/{r.json()['invitation_id']}/accept")
        assert r.status_code == 200, r.text

    member_sub, email = keycloak("member")
    member = subjects["member"] = Subject("member", email)
    join(member, "Marie")
    # A user of that organisation, deactivated by its referent.
    sub, email = keycloak("deactivated")
    subjects["deactivated"] = Subject("deactivated", email)
    join(subjects["deactivated"], "Ancien")
    r = call(
        referent,
        "PUT",
        f"{orders}/organisations/{org}/users/{sub}",
        json={"email": email, "display_name": "Ancien", "active": False},
    )
    assert r.status_code == 200, r.text
    # Never registered.
    subjects["unregistered"] = Subject("unregistered", keycloak("unregistered")[1])
    # Another organisation (its referent, a member there too); a suspended one.
    subjects["other-org"] = Subject("other-org", keycloak("other")[1])
    organisation(subjects["other-org"], "french-research")
    sub, email = keycloak("suspended")
    suspended_org = uid("org")
    seed_member(suspended_org, sub, ["member"])
    set_organisation_status(suspended_org, "suspended")
    subjects["suspended"] = Subject("suspended", email)
    # A contractor of the owners' organisation (its referent confirms the contract) whose
    # contract ends in a few seconds: over before the matrix runs.
    sub, email = keycloak("contractor")
    contractor = Subject("contractor-ended", email)
    now = datetime.now(UTC)
    contract_end = now + timedelta(seconds=5)
    contractor_org = uid("org")
    r = call(
        contractor,
        "POST",
        f"{orders}/organisations",
        json=application(
            f"Bureau {contractor_org}",
            "contractor",
            organisation_id=contractor_org,
            commissioning_organisation_id=org,
            contract_start=(now - timedelta(days=60)).isoformat(),
            contract_end=contract_end.isoformat(),
        ),
    )
    assert r.status_code == 201, r.text
    r = call(referent, "POST", f"{orders}/organisations/{org}/delegations/{contractor_org}/confirm")
    assert r.status_code == 200, r.text
    approve(contractor_org)
    subjects["contractor-ended"] = contractor

    # An operator's token, taken before an admin demotes them (taken again the same way
    # when it gets old: promoted, token, demoted).
    demoted_sub, demoted_email = keycloak("demoted")

    def demoted_token() -> str:
        staff_account(demoted_sub, demoted_email, ["operator"])
        token = password_token(demoted_email)
        staff_account(demoted_sub, demoted_email, ["member"])
        return token

    subjects["demoted"] = Subject("demoted", demoted_email, demoted_token)

    # The member's records.
    r = call(member, "POST", f"{orders}/requests", json=tasking())
    assert r.status_code == 201, r.text
    request_id = r.json()["request_id"]
    r = call(
        member,
        "POST",
        f"{orders}/product-orders",
        json={"items": [{"collection": item["collection"], "item_id": item["id"]}]},
    )
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    r = call(member, "POST", f"{orders}/api-keys", json={"name": "matrice"})
    assert r.status_code == 201, r.text
    key = r.json()
    deadline = time.monotonic() + 60
    while True:  # notify learns about users from `user-changed`: wait for it
        r = call(
            member, "POST", f"{BASE['notify']}/v1/webhooks", json={"url": "https://hooks.example.fr/dinamis"}
        )
        if r.status_code != 403 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert r.status_code == 201, r.text
    webhook = r.json()["endpoint_id"] if "endpoint_id" in r.json() else r.json()["id"]
    asset = next(iter(item["assets"].values()))["href"]
    me = call(member, "GET", f"{orders}/me").json()["principal"]

    ids = {
        "org_id": org,
        "contractor_id": contractor_org,
        "user_id": member_sub,  # a user the referent (or staff) edits
        "invitation_id": f"inv-{uuid.uuid4().hex}",  # plausible: 404
        "access_key": key["access_key"],
        "request_id": request_id,
        "order_id": order_id,
        "product_id": f"p-{uuid.uuid4().hex[:12]}",
        "endpoint_id": webhook,
        "family": "pleiades-neo",
        "period": "2026-Q4",
        "collection_id": item["collection"],
        "collection": item["collection"],
        "item_id": item["id"],
        "asset": next(iter(item["assets"])),
    }
    upload = f"{STORE}/uploads/{me['organisation_id']}/{me['user_id']}/matrice/a.geojson"
    bodies = {  # chosen by hand where a generated body would not be meaningful
        "orders POST /v1/organisations": application("Labo Matrice", organisation_id=uid("org")),
        "orders POST /v1/organisations/{org_id}/decision": {"decision": "approve"},
        "orders POST /v1/organisations/{org_id}/status": {"status": "active", "reason": "matrice"},
        "orders PUT /v1/organisations/{org_id}/users/{user_id}": {
            "email": "marie@labo.example.fr",
            "display_name": "Marie",
        },
        "orders POST /v1/organisations/{org_id}/invitations": {
            "email": "nouvelle@labo.example.fr",
            "display_name": "Nouvelle",
        },
        "orders POST /v1/organisations/{org_id}/delegations/{contractor_id}/end": {"reason": "matrice"},
        "orders POST /v1/api-keys/verify": {"access_key": key["access_key"], "secret_key": key["secret_key"]},
        "orders POST /v1/access/items": {"item_ids": [item["id"]]},
        "orders POST /v1/quotas/{org_id}/{family}/{period}": {"km2": 1, "reason": "matrice"},
        "orders POST /v1/requests/quote": tasking(),
        "orders POST /v1/requests": tasking(),
        "orders POST /v1/requests/{request_id}/actions": {"action": "start_review"},
        "orders POST /v1/product-orders": {
            "items": [{"collection": item["collection"], "item_id": item["id"]}]
        },
        "orders POST /v1/product-orders/quote": {
            "items": [{"collection": item["collection"], "item_id": item["id"]}]
        },
        "notify POST /v1/webhooks": {"url": "https://hooks.example.fr/matrice"},
        "catalog POST /search": {"collections": [item["collection"]], "limit": 1},
        "orders PUT /v1/staff/{user_id}": {
            "email": "nouvel.operateur@dinamis.example.fr",
            "display_name": "Nouvel opérateur",
            "roles": ["operator"],
        },
    }
    params = {
        "catalog POST /sign_urls": {"urls": [asset], "duration_seconds": 600},
        "catalog POST /sign_urls_put": {"urls": [upload], "duration_seconds": 600},
    }
    time.sleep(max(0.0, (contract_end - datetime.now(UTC)).total_seconds()) + 1)  # the contract is over
    # A staff account edited by an admin: a sub of its own (the member's is refused).
    path_ids = {
        "orders PUT /v1/staff/{user_id}": {"user_id": f"matrice-staff-{uuid.uuid4().hex[:8]}"},
        "reporting GET /v1/indicators/{name}": {"name": "members_organisations"},
        "reporting GET /v1/wg/indicators/{name}": {"name": "members_organisations"},
        "reporting GET /v1/notes/{year}.pdf": {"year": str(datetime.now(UTC).year)},
    }
    return World(subjects=subjects, ids=ids, bodies=bodies, params=params, path_ids=path_ids)


# --- the matrix ------------------------------------------------------------------------


def routes_of_every_service() -> dict[str, tuple[str, str, str, dict, dict]]:
    """route key -> (service, method, path, operation, spec), from each /openapi.json."""
    found = {}
    for svc, base in BASE.items():
        spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    found[f"{svc} {method.upper()} {path}"] = (svc, method.upper(), path, operation, spec)
    return found


def destructive_last(key: str) -> tuple[int, str]:
    """Order of the routes: reads, then writes, then deletions and applications (which
    change who the caller is), so no route sees another's side effects too early."""
    method = key.split(" ")[1]
    rank = {"GET": 0, "PUT": 1, "POST": 1, "DELETE": 2}[method]
    if key == "orders POST /v1/organisations":
        rank = 3
    return rank, key


@dataclass
class Cell:
    route: str
    subject: str
    status: int
    want: str
    detail: str

    @property
    def line(self) -> str:
        return f"{self.route:<62} {self.subject:<17} {self.status:<4} want {self.want:<10} {self.detail}"


@pytest.fixture(scope="module")
def matrix(world) -> dict[str, Any]:
    routes = routes_of_every_service()
    unclassified = sorted(set(routes) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(routes))
    cells: list[Cell] = []
    mismatches: list[Cell] = []
    for key in sorted(routes, key=destructive_last):
        if key not in ROUTES:
            continue
        svc, method, path, operation, spec = routes[key]
        ids = {**world.ids, **world.path_ids.get(key, {})}
        url = BASE[svc] + re.sub(r"{(\w+)}", lambda m, ids=ids: ids[m.group(1)], path)
        kwargs: dict[str, Any] = {}
        if key in world.bodies:
            kwargs["json"] = world.bodies[key]
        elif "requestBody" in operation:
            content = operation["requestBody"]["content"]
            schema = next(iter(content.values()))["schema"]
            kwargs["json"] = minimal(schema, spec)
        if key in world.params:
            kwargs["params"] = world.params[key]
        for subject in SUBJECTS:
            status, text = status_of(world.subjects[subject], method, url, **kwargs)
            want, statuses = expected(ROUTES[key], subject)
            if want == "ok":
                good = 200 <= status < 300 or status in statuses
            else:
                good = status in statuses
            cell = Cell(key, subject, status, want + ("" if want == "ok" else str(sorted(statuses))), text)
            cells.append(cell)
            if not good:
                mismatches.append(cell)
    return {
        "routes": routes,
        "cells": cells,
        "mismatches": mismatches,
        "unclassified": unclassified,
        "stale": stale,
    }


def test_every_route_of_every_service_is_classified(matrix):
    assert not matrix["unclassified"], "routes missing from ROUTES (classify them):\n" + "\n".join(
        matrix["unclassified"]
    )
    assert not matrix["stale"], "routes in ROUTES that no service serves:\n" + "\n".join(matrix["stale"])


def test_authorisation_matrix_of_every_service(matrix):
    cells, mismatches = matrix["cells"], matrix["mismatches"]
    n_routes = len({c.route for c in cells})
    print(f"\nauthorisation matrix: {n_routes} routes x {len(SUBJECTS)} subjects = {len(cells)} calls")
    unexpected = mismatches
    print(f"{len(unexpected)} unexpected")
    assert n_routes * len(SUBJECTS) == len(cells)
    assert not unexpected, f"{len(unexpected)} of {len(cells)} cells unexpected:\n" + "\n".join(
        m.line for m in unexpected
    )


def test_known_holes_are_closed(matrix):
    """Issue 12 (A), once a known hole: a contractor whose contract ended kept standing
    'member' on every route needing standing. Now refused everywhere (403)."""
    cells = [c for c in matrix["cells"] if c.subject == "contractor-ended"]
    gated = [c for c in cells if ROUTES[c.route].kind in ("standing", "members")]
    assert len(gated) >= 15
    assert all(c.status == 403 for c in gated), "\n".join(c.line for c in gated if c.status != 403)
    assert not [m for m in matrix["mismatches"] if m.subject == "contractor-ended"]

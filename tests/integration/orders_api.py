"""Helpers shared by the integration tests that drive the platform through the orders
API: callers holding a token (and the API base URL they call), staff accounts and
member organisations in the orders service's records, AOIs and request drafts, and a
clock that tests move instead of sleeping.

A token says only who the caller is: what they may do comes from the orders service's
records. Staff are created as the platform bootstraps them (`ensure_staff`, the use
case behind `python -m dinamis_orders.staff`); members through the API (apply, approve,
the referent adds users), or seeded straight into the records (`seed_member`) by tests
of other services that need members but do not test membership."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from dinamis_orders.adapters.mongo import mongo_orders
from dinamis_orders.domain.organisations import Acceptance, LegalRepresentative, Organisation, User
from dinamis_orders.service import membership
from dinamis_orders.service.context import Orders
from dinamis_orders.settings import OrdersSettings
from dinamis_shared.auth import Role, ensure_local_signing_key, mint_token
from dinamis_shared.clients import mongo_client
from dinamis_shared.events import OrganisationCategory, OrganisationStatus
from dinamis_testkit.testing import start_service, stop_service

CHARTER, LICENCE = "charte-dinamis-2024", "licence-produits-dinamis-2024"
# ~ 7 x 5.5 km field near Clermont-Ferrand (about 39 km²)
FIELD = {
    "type": "Polygon",
    "coordinates": [[[3.05, 45.75], [3.14, 45.75], [3.14, 45.80], [3.05, 45.80], [3.05, 45.75]]],
}


def orders_api(port: int) -> str:
    """The base URL of an orders service started on `port`."""
    return f"http://127.0.0.1:{port}/v1"


@contextlib.contextmanager
def orders_alone(port: int, logs: Path, keyfile: Path, **extra_env: str) -> Iterator[subprocess.Popen]:
    """The orders service alone on `port`: tokens signed with `keyfile`, no catalogue (overlap
    checks say "unavailable" instead of failing), no supplier (operators place supplier
    orders by hand); `extra_env` on top. Stopped on leaving."""
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_CATALOG_URL": "http://127.0.0.1:9",
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        **extra_env,
    }
    proc = start_service("orders", port, logs, env=env)
    try:
        yield proc
    finally:
        stop_service(proc)


class Caller:
    """Someone with a token; `call` sends it to the orders API at `api` (set it before
    calling when the caller was made without one). `org` and `roles` are what the test
    means this caller to be: the token carries them as claims the platform ignores —
    the records decide (see `staff`, `new_member_org`, `seed_member`)."""

    def __init__(
        self, keyfile: Path, user: str, org: str, roles: list[str], *, api: str | None = None, **mint
    ) -> None:
        self.user, self.org, self.api = user, org, api
        token = mint_token(
            ensure_local_signing_key(keyfile), user_id=user, organisation_id=org, roles=roles, **mint
        )
        self.headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}

    @classmethod
    def staff(cls, keyfile: Path, *, role: str = "operator", api: str | None = None) -> Caller:
        """A DINAMIS staff member, created in the records as the platform bootstraps staff."""
        caller = cls(keyfile, uid(role[:2]), "dinamis", [role], api=api)
        ensure_staff(caller.user, [role])
        return caller

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        if self.api is None:
            raise RuntimeError(f"caller {self.user} has no orders API base URL (Caller.api)")
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return httpx.request(method, self.api + path, headers=headers, timeout=30, **kwargs)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def application(name: str, category: str = "french-research", **extra) -> dict:
    """An application body; pass `organisation_id=` for the identifier applied for."""
    return {
        "name": name,
        "category": category,
        "legal_representative": {
            "name": "Jeanne Martin",
            "email": "direction@labo.example.fr",
            "title": "Directrice",
        },
        "accept_charter": CHARTER,
        "accept_licence": LICENCE,
        "referent_email": "referent@labo.example.fr",
        "referent_name": "Paul Referent",
        **extra,
    }


def new_member_org(
    keyfile: Path, operator: Caller, category: str = "french-research", **extra
) -> tuple[Caller, Caller]:
    """An approved organisation: (its referent, one active member), calling the operator's API.
    A contractor's running contract is confirmed by a referent of its commissioning body."""
    org = uid("org")
    referent = Caller(keyfile, uid("ref"), org, ["referent", "member"], api=operator.api)
    r = referent.call(
        "POST", "/organisations", json=application(f"Labo {org}", category, organisation_id=org, **extra)
    )
    assert r.status_code == 201, r.text
    if category == "contractor" and datetime.fromisoformat(extra["contract_end"]) > datetime.now(UTC):
        # A contract runs only once a referent of the commissioning body confirms it.
        body = referent_of(keyfile, extra["commissioning_organisation_id"], operator.api)
        r = body.call("POST", f"/organisations/{body.org}/delegations/{org}/confirm")
        assert r.status_code == 200 and r.json()["delegation_status"] == "confirmed", r.text
    r = operator.call("POST", f"/organisations/{org}/decision", json={"decision": "approve"})
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    member = Caller(keyfile, uid("usr"), org, ["member"], api=operator.api)
    adder = referent
    if referent.call("GET", "/me").json()["principal"]["standing"] != "member":
        adder = operator  # a contractor outside its contract manages nothing: staff invite the user
    join(adder, member)
    return referent, member


def join(inviter: Caller, invitee: Caller, roles: tuple[str, ...] = ("member",), **fields) -> dict:
    """`inviter` (a referent of `invitee.org`, or staff) invites `invitee`, who accepts with
    their own token: their user record, as the acceptance made it."""
    body = {
        "email": f"{invitee.user}@labo.example.fr",
        "display_name": "Marie",
        "language": "fr",
        "roles": list(roles),
        **fields,
    }
    r = inviter.call("POST", f"/organisations/{invitee.org}/invitations", json=body)
    assert r.status_code == 201, r.text
    r = invitee.call("POST", f"/invitations/{r.json()['invitation_id']}/accept")
    assert r.status_code == 200, r.text
    return r.json()


def new_contractor_org(
    keyfile: Path, operator: Caller, body_referent: Caller, end: datetime, start: datetime | None = None
) -> Caller:
    """An approved contractor organisation working for `body_referent`'s organisation
    (a French public body) until `end`: its referent, calling the operator's API."""
    org = uid("org")
    referent = Caller(keyfile, uid("ref"), org, ["referent", "member"], api=operator.api)
    body = application(
        f"Bureau {org}",
        "contractor",
        organisation_id=org,
        commissioning_organisation_id=body_referent.org,
        contract_start=(start or datetime.now(UTC) - timedelta(days=30)).isoformat(),
        contract_end=end.isoformat(),
    )
    r = referent.call("POST", "/organisations", json=body)
    assert r.status_code == 201, r.text
    r = body_referent.call("POST", f"/organisations/{body_referent.org}/delegations/{org}/confirm")
    assert r.status_code == 200 and r.json()["delegation_status"] == "confirmed", r.text
    r = operator.call("POST", f"/organisations/{org}/decision", json={"decision": "approve"})
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    return referent


def referent_of(keyfile: Path, org: str, api: str | None) -> Caller:
    """An active referent of `org` (from the records), holding a token."""

    async def work(orders: Orders) -> str:
        found = await orders.users.find({"organisation_id": org, "roles": "referent", "active": True})
        assert found, f"{org} has no active referent"
        return found[0]["user_id"]

    return Caller(keyfile, in_records(work), org, ["referent", "member"], api=api)


def square(lon: float, lat: float, size: float) -> dict:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def tasking(aoi: dict = FIELD, days: int = 60, **extra) -> dict:
    start = datetime.now(UTC) + timedelta(days=1)
    return {
        "kind": "tasking",
        "sensor_family": "pleiades-neo",
        "aoi": aoi,
        "window": {"start": start.isoformat(), "end": (start + timedelta(days=days)).isoformat()},
        "title": "Suivi des haies bocagères",
        "justification": "Cartographie des haies pour le projet ANR BOCAGE 2026-2029.",
        **extra,
    }


class MovableClock:
    """The wall clock, plus however far a test moved it (inject as `clock=`)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


# --- the orders service's records, in process ------------------------------------------


def in_records(work: Callable[[Orders], Awaitable[Any]]) -> Any:
    """Run a use case on the orders service's database (the stack's), from sync or async
    tests alike (a thread of its own, with its own event loop)."""
    found: dict[str, Any] = {}

    async def go() -> None:
        client = mongo_client(OrdersSettings())
        try:
            settings = OrdersSettings()
            found["result"] = await work(mongo_orders(client[settings.mongo_database], settings))
        finally:
            await client.close()

    def run() -> None:
        try:
            asyncio.run(go())
        except BaseException as exc:
            found["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in found:
        raise found["error"]
    return found["result"]


def ensure_staff(user_id: str, roles: list[str]) -> None:
    """A staff account (a user of the platform's own organisation, as
    `entitlements.ensure_staff` bootstraps it), written straight into the records without
    announcing it on the bus (other tests' notify directory stays as they set it)."""
    seed_member("dinamis", user_id, roles, organisation=False)


def seed_member(
    org: str,
    user_id: str,
    roles: list[str] | tuple[str, ...] = ("member",),
    *,
    category: str = "french-research",
    active: bool = True,
    organisation: bool = True,
) -> None:
    """An active member organisation (created if absent) and one of its users, written
    straight into the orders service's records (no events): for tests of other services."""

    async def work(orders: Orders) -> None:
        now = orders.now()
        if organisation and await orders.organisations.get(org) is None:
            record = Organisation(
                organisation_id=org,
                name=f"Labo {org}",
                category=OrganisationCategory(category),
                legal_representative=LegalRepresentative(
                    name="Jeanne Martin", email="direction@labo.example.fr", title="Directrice"
                ),
                acceptance=Acceptance(
                    charter_version=CHARTER, licence_version=LICENCE, accepted_at=now, accepted_by=user_id
                ),
                status=OrganisationStatus.ACTIVE,
                valid_until=now + timedelta(days=365),
                applied_at=now,
                decided_at=now,
                decided_by="seed",
            )
            await orders.organisations.write(
                org, record.model_dump(mode="json"), expected_rev=0, by="seed", change="seeded"
            )
        user = User(
            user_id=user_id,
            organisation_id=org,
            email=f"{user_id}@labo.example.fr",
            display_name="Membre",
            roles=[Role(r) for r in roles],
            active=active,
        )
        current = await orders.users.get(user_id)
        await orders.users.write(
            user_id,
            user.model_dump(mode="json"),
            expected_rev=current["rev"] if current else 0,
            by="seed",
            change="seeded",
        )

    in_records(work)


def set_organisation_status(org: str, status: str) -> None:
    """Suspend / reinstate an organisation in the records, as an operator would."""

    async def work(orders: Orders) -> None:
        await membership.change_status(
            orders,
            membership.SYSTEM,
            org,
            OrganisationStatus(status),
            "test",
            None,
        )

    in_records(work)

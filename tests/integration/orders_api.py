"""Helpers shared by the integration tests that drive the platform through the orders
API: callers holding a token (and the API base URL they call), member organisations,
AOIs and request drafts, and a clock that tests move instead of sleeping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from dinamis_shared.auth import ensure_local_signing_key, mint_token

CHARTER, LICENCE = "charte-dinamis-2024", "licence-produits-dinamis-2024"
# ~ 7 x 5.5 km field near Clermont-Ferrand (about 39 km²)
FIELD = {
    "type": "Polygon",
    "coordinates": [[[3.05, 45.75], [3.14, 45.75], [3.14, 45.80], [3.05, 45.80], [3.05, 45.75]]],
}


def orders_api(port: int) -> str:
    """The base URL of an orders service started on `port`."""
    return f"http://127.0.0.1:{port}/v1"


class Caller:
    """Someone with a token; `call` sends it to the orders API at `api` (set it before
    calling when the caller was made without one)."""

    def __init__(
        self, keyfile: Path, user: str, org: str, roles: list[str], *, api: str | None = None, **mint
    ) -> None:
        self.user, self.org, self.api = user, org, api
        token = mint_token(
            ensure_local_signing_key(keyfile), user_id=user, organisation_id=org, roles=roles, **mint
        )
        self.headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        if self.api is None:
            raise RuntimeError(f"caller {self.user} has no orders API base URL (Caller.api)")
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return httpx.request(method, self.api + path, headers=headers, timeout=30, **kwargs)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def application(name: str, category: str = "french-research", **extra) -> dict:
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
    """An approved organisation: (its referent, one active member), calling the operator's API."""
    org = uid("org")
    referent = Caller(keyfile, uid("ref"), org, ["referent", "member"], api=operator.api)
    r = referent.call("POST", "/organisations", json=application(f"Labo {org}", category, **extra))
    assert r.status_code == 201, r.text
    r = operator.call("POST", f"/organisations/{org}/decision", json={"decision": "approve"})
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    member = Caller(keyfile, uid("usr"), org, ["member"], api=operator.api)
    r = referent.call(
        "PUT",
        f"/organisations/{org}/users/{member.user}",
        json={"email": f"{member.user}@labo.example.fr", "display_name": "Marie", "language": "fr"},
    )
    assert r.status_code == 200, r.text
    return referent, member


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

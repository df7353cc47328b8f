"""Fakes of the portal's own ports (sessions.SessionStore, upstream.Catalogue and
upstream.Orders, oidc.IdentityProvider) and an app wired with them. No server needed:
the real adapters are tested against the real stack in tests/integration/test_portal.py."""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dinamis_portal.app import create_app
from dinamis_portal.oidc import LoginStart, login_refused
from dinamis_portal.ops.audit import Entry
from dinamis_portal.ops.notices import SiteNotices
from dinamis_portal.sessions import Sessions
from dinamis_portal.settings import PortalSettings
from dinamis_portal.upstream import Preview, Signed, SigningRefused, not_found

PORTAL = "http://portal.test"


class MemoryStore:
    def __init__(self) -> None:
        self.records: dict[str, dict] = {}

    async def get(self, key: str) -> dict | None:
        record = self.records.get(key)
        return copy.deepcopy(record) if record else None

    async def put(self, key: str, record: dict, *, create: bool) -> None:
        if create or key in self.records:
            self.records[key] = copy.deepcopy(record)

    async def delete(self, key: str) -> None:
        self.records.pop(key, None)

    async def purge_expired(self, at: datetime) -> int:
        gone = [k for k, r in self.records.items() if r["expires_at"] < at]
        for key in gone:
            del self.records[key]
        return len(gone)

    async def claim(self, key: str, expires_at: datetime) -> bool:
        if f"claim:{key}" in self.records:
            return False
        self.records[f"claim:{key}"] = {"expires_at": expires_at}
        return True


def item(item_id: str, lon: float = 4.85, lat: float = 45.76, cloud: float | None = 3.5, **props) -> dict:
    d = 0.05
    properties = {"datetime": "2026-06-01T10:30:00Z", "platform": "pleiades-neo-4", "gsd": 1.2, **props}
    if cloud is not None:
        properties["eo:cloud_cover"] = cloud
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": item_id,
        "collection": "pleiades-neo-ortho",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [lon - d, lat - d],
                    [lon + d, lat - d],
                    [lon + d, lat + d],
                    [lon - d, lat + d],
                    [lon - d, lat - d],
                ]
            ],
        },
        "bbox": [lon - d, lat - d, lon + d, lat + d],
        "properties": properties,
        "links": [],
        "assets": {
            "thumbnail": {
                "href": f"http://catalogue.test/previews/pleiades-neo-ortho/{item_id}/thumbnail",
                "type": "image/png",
                "roles": ["thumbnail"],
            },
            "pan": {
                "href": f"http://store.test/archive/{item_id}/pan.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "title": "Panchromatique",
            },
        },
    }


class FakeCatalogue:
    def __init__(self) -> None:
        self.items = [item("scene-lyon-1"), item("scene-lyon-2", cloud=40.0)]
        self.searches: list[list[tuple[str, str]]] = []
        self.signed_with: list[str] = []
        self.refuse_signing: SigningRefused | None = None

    async def search(self, params: list[tuple[str, str]]) -> dict[str, Any]:
        self.searches.append(params)
        return {
            "type": "FeatureCollection",
            "features": self.items,
            "numberMatched": len(self.items),
            "links": [],
        }

    async def item(self, collection: str, item_id: str) -> dict[str, Any]:
        for found in self.items:
            if found["id"] == item_id and found["collection"] == collection:
                return found
        raise not_found("scène", "scene")

    async def collection(self, collection: str) -> dict[str, Any] | None:
        return {
            "id": collection,
            "title": "Pléiades Neo — orthoimages / Pléiades Neo — orthoimages",
            "license": "other",
            "links": [
                {"rel": "license", "href": "https://dinamis.example/licence", "title": "Licence DINAMIS"}
            ],
        }

    async def collections(self) -> list[dict[str, Any]]:
        return [{"id": "pleiades-neo-ortho", "title": "Pléiades Neo — ortho / Pléiades Neo — ortho"}]

    async def preview(self, collection: str, item_id: str, asset: str) -> Preview | None:
        if asset == "thumbnail" and any(i["id"] == item_id for i in self.items):
            return Preview(b"\x89PNG fake", "image/png")
        return None

    async def sign(self, urls: list[str], token: str, seconds: int) -> Signed | SigningRefused:
        self.signed_with.append(token)
        if self.refuse_signing:
            return self.refuse_signing
        return Signed({u: f"{u}?X-Amz-Signature=abc" for u in urls}, "2026-12-01T00:00:00Z")


class FakeOrders:
    def __init__(self) -> None:
        self.standing = "member"
        self.roles = {"operator"}
        self.calls: list[str] = []

    async def me(self, token: str) -> dict[str, Any] | None:
        self.calls.append(token)
        return {
            "principal": {"user_id": "sub-1", "organisation_id": "labo-1", "standing": self.standing},
            "organisation": {"name": "Laboratoire Un"},
            "user": {"display_name": "Marie Curie", "email": "marie@labo.example.fr"},
        }

    async def me_now(self, token: str) -> dict[str, Any] | None:
        answer = await self.me(token)
        if answer is not None and self.standing == "staff":
            answer["principal"].update(organisation_id="dinamis", roles=sorted(self.roles))
        return answer


class MemoryAudit:
    """The operators' journal (ops/audit.OpsAudit) in memory."""

    def __init__(self) -> None:
        self.recorded: list[Entry] = []

    async def record(self, staff, action, target, *, reason="", outcome="done", details=None) -> Entry:
        entry = Entry(
            uuid.uuid4().hex, datetime.now(UTC), staff.actor(), action, target, reason, outcome, details or {}
        )
        self.recorded.append(entry)
        return entry

    async def entries(self, *, action=None, actor=None, target=None, before=None, limit=100) -> list[Entry]:
        found = [
            e
            for e in reversed(self.recorded)
            if (action is None or e.action == action)
            and (actor is None or actor in (e.actor.get("user_id"), e.actor.get("email")))
            and (target is None or e.target == target)
            and (before is None or (e.at, e.id) < before)
        ]
        found.sort(key=lambda e: (e.at, e.id), reverse=True)
        return found[:limit]


class MemoryNotices:
    """The announcement and maintenance store (ops/notices.NoticeStore) in memory."""

    def __init__(self) -> None:
        self.notices = SiteNotices()

    async def current(self, *, fresh: bool = False) -> SiteNotices:
        return self.notices

    async def set_announcement(self, announcement, by: str) -> SiteNotices:
        self.notices = replace(self.notices, announcement=announcement, updated_by=by)
        return self.notices

    async def set_maintenance(self, maintenance, by: str) -> SiteNotices:
        self.notices = replace(self.notices, maintenance=maintenance, updated_by=by)
        return self.notices


class FakeIdentity:
    """Keycloak as the login routes see it: remembers the login it was sent, answers
    the code exchange with tokens whose ID token carries that login's nonce."""

    def __init__(self) -> None:
        self.started: list[LoginStart] = []
        self.exchanged: list[tuple[str, str]] = []
        self.nonce_in_token: str | None = None
        self.refreshes = 0

    async def authorization_url(self, start: LoginStart, lang: str) -> str:
        self.started.append(start)
        return f"http://idp.test/auth?state={start.state}&ui_locales={lang}"

    async def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        self.exchanged.append((code, verifier))
        return {
            "access_token": "ACCESS-TOKEN-SECRET",
            "refresh_token": "REFRESH-TOKEN-SECRET",
            "id_token": "ID-TOKEN-SECRET",
            "expires_in": 300,
        }

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        self.refreshes += 1
        return {"access_token": "ACCESS-TOKEN-2", "expires_in": 300}

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        expected = self.nonce_in_token if self.nonce_in_token is not None else self.started[-1].nonce
        if nonce != expected:
            raise login_refused("oidc-nonce-mismatch", "nonce", "nonce")
        return {"sub": "sub-1", "email": "marie@labo.example.fr", "nonce": expected}

    async def end_session_url(self, id_token_hint: str | None) -> str:
        return f"http://idp.test/logout?id_token_hint={id_token_hint}"


class Portal:
    def __init__(self, settings: PortalSettings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        container = self.app.state.container
        self.store = MemoryStore()
        self.catalogue = FakeCatalogue()
        self.orders = FakeOrders()
        self.identity = FakeIdentity()
        container.sessions = Sessions(self.store, settings)
        container.catalogue = self.catalogue
        container.orders = self.orders
        container.identity = self.identity
        self.audit = MemoryAudit()
        self.notices = MemoryNotices()
        container.ops_audit = self.audit
        container.notices = self.notices
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=PORTAL)

    async def login(self) -> httpx.Response:
        """The whole round trip, the identity provider played by FakeIdentity."""
        await self.client.get("/connexion", params={"retour": "/rechercher"})
        state = self.identity.started[-1].state
        return await self.client.get("/auth/callback", params={"code": "the-code", "state": state})


def settings(**overrides: Any) -> PortalSettings:
    values: dict[str, Any] = {
        "environment": "development",
        "public_url": PORTAL,
        "catalog_url": "http://catalogue.test",
        "oidc_issuer": "http://idp.test/realms/dinamis",
        "mongo_url": "mongodb://127.0.0.1:9/",
    }
    values.update(overrides)
    return PortalSettings(**values)


@pytest.fixture
async def portal():
    p = Portal(settings())
    yield p
    await p.client.aclose()

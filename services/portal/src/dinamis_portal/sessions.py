"""Server-side sessions: the browser holds only a random id (an HttpOnly, SameSite=Lax
cookie, Secure outside development); everything else — the login in progress (state,
nonce, PKCE verifier), the tokens, the anti-forgery (CSRF) token — stays on the server,
in MongoDB, stored under the SHA-256 of the id (a copy of the collection gives no
usable cookie), the tokens sealed under a key derived from the id (nor a usable token).
Sessions end after `session_idle_s` without use and `session_max_s` in all; the id
changes at login (no session fixation) and the record goes at logout."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from starlette.requests import Request
from starlette.responses import Response

from dinamis_portal.settings import PortalSettings

COLLECTION = "portal_sessions"


def now() -> datetime:
    return datetime.now(UTC)


def hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore(Protocol):
    """Where session records live (port): MongoDB in the service, a dict in unit tests."""

    async def get(self, key: str) -> dict | None: ...
    async def put(self, key: str, record: dict, *, create: bool) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def purge_expired(self, at: datetime) -> int: ...
    async def claim(self, key: str, expires_at: datetime) -> bool: ...


class MongoSessionStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        # FerretDB 1.24 has no TTL index ("expireAfterSeconds is not implemented"): reads
        # refuse expired records, and each login purges them (`Sessions.rotate`).
        await self.collection.create_index([("expires_at", ASCENDING)])

    async def get(self, key: str) -> dict | None:
        return await self.collection.find_one({"_id": key})

    async def put(self, key: str, record: dict, *, create: bool) -> None:
        # An existing session is only ever updated, never recreated: a request that read it
        # before a logout and saves after it must not bring it (and its tokens) back.
        await self.collection.replace_one({"_id": key}, {**record, "_id": key}, upsert=create)

    async def delete(self, key: str) -> None:
        await self.collection.delete_one({"_id": key})

    async def purge_expired(self, at: datetime) -> int:
        done = await self.collection.delete_many({"expires_at": {"$lt": at}})
        return done.deleted_count

    async def claim(self, key: str, expires_at: datetime) -> bool:
        """True for the first caller only (a unique id, atomic in the database): a
        single-use key used by two concurrent requests is used once. Purged with the
        sessions once expired."""
        try:
            await self.collection.insert_one({"_id": f"claim:{key}", "expires_at": expires_at})
        except DuplicateKeyError:
            return False
        return True


@dataclass
class Session:
    id: str
    csrf: str
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    new: bool = False

    @property
    def user(self) -> dict | None:
        return self.data.get("user")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Sessions:
    def __init__(self, store: SessionStore, settings: PortalSettings) -> None:
        self.store = store
        self.settings = settings

    def _expiry(self, session: Session) -> datetime:
        """Idle and absolute expiry; a session nobody logged in to (any visitor makes one: a
        login started, a CSRF token for the AOI review) lives `anonymous_idle_s` only."""
        idle = self.settings.session_idle_s if session.user else self.settings.anonymous_idle_s
        return min(
            now() + timedelta(seconds=idle),
            session.created_at + timedelta(seconds=self.settings.session_max_s),
        )

    async def load(self, request: Request) -> Session | None:
        """The request's session, or None (no cookie, unknown or expired id)."""
        cached = request.scope.get("state", {}).get("portal_session")
        if cached is not None:
            return cached
        session_id = request.cookies.get(self.settings.session_cookie)
        if not session_id or len(session_id) > 128:
            return None
        record = await self.store.get(hash_id(session_id))
        if record is None:
            return None
        if _aware(record["expires_at"]) <= now():
            await self.store.delete(hash_id(session_id))
            return None
        session = Session(
            id=session_id,
            csrf=record["csrf"],
            created_at=_aware(record["created_at"]),
            data=opened(session_id, record.get("data") or {}),
        )
        request.scope.setdefault("state", {})["portal_session"] = session
        return session

    async def ensure(self, request: Request) -> Session:
        """The request's session, a new one if it has none."""
        session = await self.load(request)
        if session is None:
            session = Session(
                id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), created_at=now(), new=True
            )
            request.scope.setdefault("state", {})["portal_session"] = session
        return session

    async def save(self, session: Session) -> None:
        await self.store.put(
            hash_id(session.id),
            {
                "csrf": session.csrf,
                "created_at": session.created_at,
                "expires_at": self._expiry(session),
                "data": sealed(session.id, session.data),
            },
            create=session.new,
        )

    async def rotate(self, session: Session) -> Session:
        """A new id and a new CSRF token for the same data (at login): an id planted
        before login is worth nothing after it."""
        await self.store.delete(hash_id(session.id))
        fresh = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            created_at=now(),
            data=session.data,
            new=True,
        )
        await self.save(fresh)
        await self.store.purge_expired(now())
        return fresh

    async def destroy(self, session: Session) -> None:
        await self.store.delete(hash_id(session.id))

    def set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            self.settings.session_cookie,
            session.id,
            max_age=self.settings.session_max_s,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.settings.secure_cookies,
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.settings.session_cookie,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.settings.secure_cookies,
        )


# The tokens (access, refresh, id) are sealed with AES-GCM under a key derived from the
# session id, which only the browser's cookie holds (the store keeps its SHA-256): a copy
# of the sessions collection (a backup, the database's own files) holds no usable token.
SEALED = "tokens"


def _key(session_id: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"dinamis-portal-tokens").derive(
        session_id.encode()
    )


def sealed(session_id: str, data: dict[str, Any]) -> dict[str, Any]:
    if SEALED not in data:
        return data
    nonce = secrets.token_bytes(12)
    blob = AESGCM(_key(session_id)).encrypt(
        nonce, json.dumps(data[SEALED]).encode(), hash_id(session_id).encode()
    )
    return {
        **{k: v for k, v in data.items() if k != SEALED},
        f"{SEALED}_sealed": base64.b64encode(nonce + blob).decode(),
    }


def opened(session_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """The session's data with its tokens unsealed (dropped if they do not open: a login
    without them is asked again)."""
    blob = data.get(f"{SEALED}_sealed")
    out = {k: v for k, v in data.items() if k != f"{SEALED}_sealed"}
    if isinstance(blob, str):
        try:
            raw = base64.b64decode(blob)
            clear = AESGCM(_key(session_id)).decrypt(raw[:12], raw[12:], hash_id(session_id).encode())
            out[SEALED] = json.loads(clear)
        except (ValueError, InvalidTag):
            pass
    return out


def csrf_matches(session: Session | None, token: str | None) -> bool:
    if session is None or not token:
        return False
    return secrets.compare_digest(session.csrf.encode(), token.encode())

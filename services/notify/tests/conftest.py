"""Fakes of the notify use cases' ports (service/ports.py): an in-memory store with the
same contract as the MongoDB one (unique `_id`s, "only once" inserts), a mail server
and a webhook receiver that record what they were given. No server needed."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

import pytest

from dinamis_notify.adapters.mailer import MailRefused
from dinamis_notify.adapters.store import UNSENT, now
from dinamis_notify.adapters.webhook_http import PostResult
from dinamis_notify.settings import NotifySettings

Doc = dict[str, Any]


class MemoryStore:
    """`adapters.store.Store`, in dictionaries."""

    def __init__(self) -> None:
        self.users: dict[str, Doc] = {}
        self.prefs: dict[str, Doc] = {}
        self.requests: dict[str, Doc] = {}
        self.organisations: dict[str, Doc] = {}
        self.history: dict[str, Doc] = {}
        self.stream: list[Doc] = []
        self.webhooks: dict[str, Doc] = {}
        self.deliveries: dict[str, Doc] = {}
        self.attempts: dict[str, Doc] = {}

    # directory
    async def upsert_user(self, doc: Doc) -> bool:
        current = self.users.get(doc["_id"])
        if current is not None and current["revision"] >= doc["revision"]:
            return False
        self.users[doc["_id"]] = copy.deepcopy(doc)
        return True

    async def user(self, user_id: str) -> Doc | None:
        return copy.deepcopy(self.users.get(user_id))

    async def active_users(self, query: Doc) -> list[Doc]:
        def matches(user: Doc) -> bool:
            for key, value in query.items():
                have = user.get(key)
                if not (value in have if isinstance(have, list) else have == value):
                    return False
            return bool(user.get("active"))

        return [copy.deepcopy(u) for u in self.users.values() if matches(u)]

    # preferences
    async def preferences(self, user_id: str) -> Doc | None:
        return copy.deepcopy(self.prefs.get(user_id))

    async def save_preferences(self, user_id: str, preferences: Doc) -> None:
        self.prefs[user_id] = {"_id": user_id, **preferences}

    # memos
    async def remember_request(self, request_id: str, organisation_id: str, submitted_by: str) -> None:
        self.requests[request_id] = {
            "_id": request_id,
            "organisation_id": organisation_id,
            "submitted_by": submitted_by,
        }

    async def request(self, request_id: str) -> Doc | None:
        return copy.deepcopy(self.requests.get(request_id))

    async def organisation(self, organisation_id: str) -> Doc | None:
        return copy.deepcopy(self.organisations.get(organisation_id))

    async def remember_organisation(self, organisation_id: str, revision: int, status: str) -> None:
        current = self.organisations.get(organisation_id)
        if current is None or current.get("revision", 0) < revision:
            self.organisations[organisation_id] = {
                "_id": organisation_id,
                "revision": revision,
                "status": status,
            }

    # history
    async def claim(self, doc: Doc) -> Doc | None:
        if doc["_id"] in self.history:
            return copy.deepcopy(self.history[doc["_id"]])
        self.history[doc["_id"]] = copy.deepcopy(doc)
        return None

    async def settle(self, history_id: str, status: str, **fields: Any) -> None:
        if history_id in self.history:
            self.history[history_id].update(status=status, **fields)

    async def settle_all(self, history_ids: Sequence[str], status: str, **fields: Any) -> None:
        for history_id in history_ids:
            await self.settle(history_id, status, **fields)

    async def digest_pending(self) -> list[Doc]:
        return [copy.deepcopy(d) for d in self.history.values() if d["status"] == "digest-pending"]

    async def notifications_of(self, recipient: str, limit: int) -> list[Doc]:
        mine = [d for d in self.history.values() if d["recipient"] == recipient]
        mine.sort(key=lambda d: d["created_at"], reverse=True)
        return [{k: v for k, v in d.items() if k not in ("summary", "address")} for d in mine[:limit]]

    # stream
    async def append_stream(self, doc: Doc) -> Doc:
        for entry in self.stream:
            if entry["key"] == doc["key"]:
                return copy.deepcopy(entry)
        entry = {**doc, "_id": len(self.stream) + 1}
        self.stream.append(entry)
        return copy.deepcopy(entry)

    async def stream_after(self, feeds: list[str], after: int, limit: int) -> list[Doc]:
        return [e for e in self.stream if e["feed"] in feeds and e["_id"] > after][:limit]

    # webhooks
    async def add_webhook(self, doc: Doc) -> None:
        assert doc["_id"] not in self.webhooks
        self.webhooks[doc["_id"]] = copy.deepcopy(doc)

    async def webhook(self, endpoint_id: str) -> Doc | None:
        return copy.deepcopy(self.webhooks.get(endpoint_id))

    async def webhooks_of(self, owner_user_id: str) -> list[Doc]:
        return [copy.deepcopy(w) for w in self.webhooks.values() if w["owner_user_id"] == owner_user_id]

    async def count_webhooks_of(self, owner_user_id: str) -> int:
        return len(await self.webhooks_of(owner_user_id))

    async def webhooks_on(self, feed: str) -> list[Doc]:
        return [copy.deepcopy(w) for w in self.webhooks.values() if w["feed"] == feed]

    async def failing_webhooks(self, limit: int) -> list[Doc]:
        failing = [copy.deepcopy(w) for w in self.webhooks.values() if w["status"] == "failing"]
        return sorted(failing, key=lambda w: w["failing_since"], reverse=True)[:limit]

    async def remove_webhook(self, endpoint_id: str) -> None:
        self.webhooks.pop(endpoint_id, None)
        for d in self.deliveries.values():
            if d["endpoint_id"] == endpoint_id and d["status"] in UNSENT:
                d["status"] = "cancelled"

    async def reactivate_webhook(self, endpoint_id: str) -> None:
        endpoint = self.webhooks[endpoint_id]
        endpoint["status"] = "active"
        endpoint.pop("failing_since", None)
        for d in self.deliveries.values():
            if d["endpoint_id"] == endpoint_id and d["status"] == "held":
                d.update(status="pending", next_attempt_at=now())

    async def mark_webhook_failing(self, endpoint_id: str) -> None:
        self.webhooks[endpoint_id].update(status="failing", failing_since=now())

    async def add_delivery(self, doc: Doc) -> bool:
        if doc["_id"] in self.deliveries:
            return False
        self.deliveries[doc["_id"]] = copy.deepcopy(doc)
        return True

    async def due_deliveries(self, limit: int) -> list[Doc]:
        due = [
            d for d in self.deliveries.values() if d["status"] == "pending" and d["next_attempt_at"] <= now()
        ]
        return [copy.deepcopy(d) for d in sorted(due, key=lambda d: d["next_attempt_at"])[:limit]]

    async def update_delivery(self, delivery_id: str, **fields: Any) -> None:
        if delivery_id in self.deliveries:
            self.deliveries[delivery_id].update(fields)

    async def deliveries_of(self, endpoint_id: str, status: str | None, limit: int) -> list[Doc]:
        mine = [
            {k: v for k, v in d.items() if k != "body"}
            for d in self.deliveries.values()
            if d["endpoint_id"] == endpoint_id and (not status or d["status"] == status)
        ]
        return sorted(mine, key=lambda d: d["created_at"], reverse=True)[:limit]

    async def add_attempt(self, doc: Doc) -> bool:
        if doc["_id"] in self.attempts:
            return False
        self.attempts[doc["_id"]] = copy.deepcopy(doc)
        return True

    async def attempt(self, attempt_id: str) -> Doc | None:
        return copy.deepcopy(self.attempts.get(attempt_id))

    async def update_attempt(self, attempt_id: str, **fields: Any) -> None:
        if attempt_id in self.attempts:
            self.attempts[attempt_id].update(fields)

    async def attempts_of(self, delivery_ids: Sequence[str]) -> list[Doc]:
        return [copy.deepcopy(a) for a in self.attempts.values() if a["delivery_id"] in delivery_ids]


class RecordingMailer:
    """Accepts every e-mail (kept in `sent`), or refuses the addresses in `refuse`."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.refuse: set[str] = set()

    async def send(self, message: EmailMessage) -> None:
        if message["To"].addresses[0].addr_spec in self.refuse:
            raise MailRefused("550 no such user")
        self.sent.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sent if m["To"].addresses[0].addr_spec == address]


class RecordingReceiver:
    """A webhook receiver: answers `status` (None: the connection failed)."""

    def __init__(self) -> None:
        self.status: int | None = 200
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []
        self.closed = False

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        self.posts.append((url, body, headers))
        if self.status is None:
            return PostResult(None, "ConnectError: refused", 1.0)
        ok = 200 <= self.status < 300
        return PostResult(self.status, None if ok else f"HTTP {self.status}", 1.0)

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def receiver() -> RecordingReceiver:
    return RecordingReceiver()


@pytest.fixture
def notify_settings() -> NotifySettings:
    return NotifySettings(
        environment="development",
        public_web_url="https://dinamis.test/app",
        webhook_max_attempts=3,
        webhook_backoff_base_s=5,
        webhook_poll_s=0.05,
    )

"""The operators' journal: every action taken through the ops console — who, when, what,
on which record, why, and what came of it (done, or refused with the service's code) —
appended to the portal's MongoDB (`ops_audit`), never updated nor deleted by the portal.

The services keep their own histories too (a request's, an organisation's, a quota's
ledger, each naming the operator); the journal is the one place that lists everything an
operator did, the actions that have no record elsewhere (a dead letter replayed, an
announcement, the maintenance mode, a cell re-tasked) included."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pymongo import DESCENDING

from dinamis_portal.ops.staff import Staff

COLLECTION = "ops_audit"
Outcome = Literal["done", "refused", "failed"]


@dataclass(frozen=True)
class Entry:
    id: str
    at: datetime
    actor: dict[str, Any]
    action: str  # e.g. "request.approve", "dlq.replay", "announcement.set"
    target: str  # the record acted on, e.g. "request:REQ-1", "dinamis.scene-acquired.v1.dlq:0:12"
    reason: str
    outcome: Outcome
    details: dict[str, Any]

    def as_document(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "reason": self.reason,
            "outcome": self.outcome,
            "details": self.details,
        }

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Entry:
        at = doc["at"]
        return cls(
            id=str(doc["_id"]),
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            actor=doc.get("actor") or {},
            action=str(doc.get("action") or ""),
            target=str(doc.get("target") or ""),
            reason=str(doc.get("reason") or ""),
            outcome=doc.get("outcome") or "done",
            details=doc.get("details") or {},
        )


class OpsAudit(Protocol):
    async def record(
        self,
        staff: Staff,
        action: str,
        target: str,
        *,
        reason: str = "",
        outcome: Outcome = "done",
        details: dict[str, Any] | None = None,
    ) -> Entry: ...

    async def entries(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[Entry]: ...


class MongoOpsAudit:
    def __init__(self, db: Any) -> None:
        self.collection = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("at", DESCENDING)])
        await self.collection.create_index([("target", 1), ("at", DESCENDING)])

    async def record(
        self,
        staff: Staff,
        action: str,
        target: str,
        *,
        reason: str = "",
        outcome: Outcome = "done",
        details: dict[str, Any] | None = None,
    ) -> Entry:
        entry = Entry(
            id=uuid.uuid4().hex,
            at=datetime.now(UTC),
            actor=staff.actor(),
            action=action[:100],
            target=target[:300],
            reason=reason[:4000],
            outcome=outcome,
            details=details or {},
        )
        await self.collection.insert_one(entry.as_document())
        return entry

    async def entries(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[Entry]:
        """Newest first; `before` is the (time, id) of the last entry of the previous page
        (entries of the same instant are ordered by id, so a page boundary loses none).
        Filters are exact values: a string is matched literally, never as an operator or
        a regular expression."""
        clauses: list[dict[str, Any]] = []
        if action:
            clauses.append({"action": str(action)})
        if actor:
            clauses.append({"$or": [{"actor.user_id": str(actor)}, {"actor.email": str(actor)}]})
        if target:
            clauses.append({"target": str(target)})
        if before is not None:
            at, entry_id = before
            clauses.append({"$or": [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": entry_id}}]})
        query: dict[str, Any] = {"$and": clauses} if clauses else {}
        cursor = (
            self.collection.find(query)
            .sort([("at", DESCENDING), ("_id", DESCENDING)])
            .limit(max(1, min(limit, 500)))
        )
        return [Entry.of(doc) async for doc in cursor]

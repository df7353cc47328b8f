"""The site-wide announcement (a DSFR notice on every page) and the maintenance mode,
set by operators, kept in the portal's MongoDB (`ops_settings`, one document) and read
through a short cache (every portal process sees a change within `ttl_s`).

Maintenance mode makes the members' portal read-only: pages, searches and downloads keep
working, every form post outside the console and the login is refused with 503 and the
operators' message; the console itself stays usable (to end the maintenance)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

COLLECTION = "ops_settings"
DOCUMENT = "site"
Severity = Literal["info", "warning", "alert"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "alert")


@dataclass(frozen=True)
class Announcement:
    text_fr: str
    text_en: str
    severity: Severity = "info"
    until: datetime | None = None  # shown until then (None: until withdrawn)

    def shown(self, now: datetime) -> bool:
        return bool(self.text_fr) and (self.until is None or now < self.until)


@dataclass(frozen=True)
class Maintenance:
    on: bool = False
    message_fr: str = ""
    message_en: str = ""
    since: datetime | None = None


@dataclass(frozen=True)
class SiteNotices:
    announcement: Announcement | None = None
    maintenance: Maintenance = field(default_factory=Maintenance)
    updated_by: str = ""
    updated_at: datetime | None = None

    def as_document(self) -> dict[str, Any]:
        return {
            "_id": DOCUMENT,
            "announcement": asdict(self.announcement) if self.announcement else None,
            "maintenance": asdict(self.maintenance),
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }

    @classmethod
    def of(cls, doc: dict[str, Any] | None) -> SiteNotices:
        if not doc:
            return cls()
        a = doc.get("announcement")
        m = doc.get("maintenance") or {}
        return cls(
            announcement=Announcement(
                text_fr=a.get("text_fr", ""),
                text_en=a.get("text_en", ""),
                severity=a.get("severity") if a.get("severity") in SEVERITIES else "info",
                until=_aware(a.get("until")),
            )
            if a
            else None,
            maintenance=Maintenance(
                on=bool(m.get("on")),
                message_fr=m.get("message_fr", ""),
                message_en=m.get("message_en", ""),
                since=_aware(m.get("since")),
            ),
            updated_by=doc.get("updated_by", ""),
            updated_at=_aware(doc.get("updated_at")),
        )


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class NoticeStore(Protocol):
    async def current(self, *, fresh: bool = False) -> SiteNotices: ...
    async def set_announcement(self, announcement: Announcement | None, by: str) -> SiteNotices: ...
    async def set_maintenance(self, maintenance: Maintenance, by: str) -> SiteNotices: ...


class MongoNotices:
    def __init__(self, db: Any, ttl_s: float = 5.0) -> None:
        self.collection = db[COLLECTION]
        self.ttl_s = ttl_s
        self._cached: tuple[float, SiteNotices] | None = None

    async def current(self, *, fresh: bool = False) -> SiteNotices:
        cached = self._cached
        if not fresh and cached and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        notices = SiteNotices.of(await self.collection.find_one({"_id": DOCUMENT}))
        self._cached = (time.monotonic(), notices)
        return notices

    async def set_announcement(self, announcement: Announcement | None, by: str) -> SiteNotices:
        value = asdict(announcement) if announcement else None
        return await self._set({"announcement": value}, by)

    async def set_maintenance(self, maintenance: Maintenance, by: str) -> SiteNotices:
        return await self._set({"maintenance": asdict(maintenance)}, by)

    async def _set(self, fields: dict[str, Any], by: str) -> SiteNotices:
        """One field at a time (`$set`): an announcement published while another operator
        starts the maintenance never writes the maintenance back."""
        fields |= {"updated_by": by, "updated_at": datetime.now(UTC)}
        await self.collection.update_one({"_id": DOCUMENT}, {"$set": fields}, upsert=True)
        return await self.current(fresh=True)

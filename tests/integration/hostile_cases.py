"""Shared pieces of the hostile-input corpus (`test_hostile_*.py`): the case record of
the HTTP corpus and the hostile values reused across services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROBLEM = "application/problem+json"
SLOWEST_S = 5.0  # no answer to a hostile request may take longer

# Strings a form or a JSON field may be sent instead of the text it expects.
NOSQL = {"$gt": ""}  # a MongoDB operator where a string is expected
NOSQL_NE = {"$ne": None}
RTL_EMOJI = (
    "\u202egnp.exe \U0001f6f0\ufe0f \u062d\u0642\u0648\u0644 \U0001f468\u200d\U0001f469\u200d\U0001f467"
)
CONTROL = "".join(chr(c) for c in range(1, 32))  # every C0 control but NUL (the edge's)
TRAVERSAL = "%2e%2e%2F%2e%2e%2Fetc%2Fpasswd"  # `../../etc/passwd`, encoded in a path segment
LONG_ID = "a" * 201  # identifiers are at most 200 characters
HUGE = "1e400"  # a JSON number no double holds


@dataclass(frozen=True)
class Case:
    """One hostile HTTP request and the answer it must get.

    `status` < 400 marks a hostile input the service rightly accepts (RTL text, a 3D
    AOI...): then `code` is None, or the code of a warning the answer must carry."""

    name: str
    service: str  # orders | notify | delivery | ingest
    method: str
    path: str  # raw path, percent-encoding kept as written
    status: int
    code: str | None
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None  # a JSON document (serialised strictly)
    raw: bytes | None = None  # or raw bytes
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()  # extra headers, repeated names allowed
    auth: str = "member"  # member | staff | newcomer | none (only `headers`)
    signed: bool = False  # ingest: HMAC-sign the body as the supplier

    def __str__(self) -> str:
        return f"{self.service}: {self.name}"


def ring(lon: float, lat: float, size: float) -> list[list[float]]:
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


def polygon(lon: float = 3.05, lat: float = 45.75, size: float = 0.05) -> dict:
    return {"type": "Polygon", "coordinates": [ring(lon, lat, size)]}

"""HMAC-SHA256 request signing, one scheme for every signed HTTP call of the platform
(suppliers pushing to ingest, notify's webhooks to receivers):

    X-Dinamis-Timestamp: <unix seconds>
    X-Dinamis-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

Signing the timestamp with the body lets a receiver refuse old requests (replays);
comparing in constant time leaks nothing about the expected value.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Dinamis-Timestamp"
SIGNATURE_HEADER = "X-Dinamis-Signature"
MAX_SKEW_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>." + body)."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str,
    timestamp: str,
    given: str,
    body: bytes,
    *,
    max_skew_s: float = MAX_SKEW_S,
    now: float | None = None,
) -> bool:
    """True if `given` signs `body` at `timestamp` and the timestamp is recent."""
    try:
        skew = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    if skew > max_skew_s:
        return False
    expected = signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))

"""Errors with a machine-readable code, mapped once to HTTP problem details
(RFC 9457, see `health.problem_response`) and once to dead-letter records (`dlq`).

`permanent=True` means retrying cannot help (bad input): the message goes to the
dead-letter topic. Any other exception is treated as transient (a server is down):
the message is not committed and is processed again.
"""

from __future__ import annotations

import errno
import socket


class DinamisError(Exception):
    """`message` is English; `message_fr` the French text shown to people (problem
    details pick one by Accept-Language, French first)."""

    code: str = "error"
    http_status: int = 400
    permanent: bool = True
    message_fr: str | None = None

    def __init__(self, message: str, *, code: str | None = None, message_fr: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if message_fr is not None:
            self.message_fr = message_fr


class MalformedEvent(DinamisError):
    """A Kafka message that does not decode into a known, valid event."""

    code = "malformed-event"


class MissingHeader(MalformedEvent):
    code = "missing-header"


class UnknownEventType(MalformedEvent):
    code = "unknown-event-type"


class BadJson(MalformedEvent):
    code = "bad-json"


class SchemaViolation(MalformedEvent):
    code = "schema-violation"


class UnexpectedEventType(MalformedEvent):
    """A known event type, but not the one this topic carries."""

    code = "unexpected-event-type"


class RetriesExhausted(DinamisError):
    """An unexpected error (not a known outage) kept failing: most likely a bug. The
    message is dead-lettered so the partition moves on; replay it once fixed."""

    code = "retries-exhausted"


def is_outage(exc: BaseException) -> bool:
    """True for errors that mean "a server is unreachable or failing": retried for as
    long as it takes, never dead-lettered."""
    # Imported here so that this module stays importable without the drivers.
    import httpx
    import urllib3.exceptions
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
    from minio.error import S3Error, ServerError
    from psycopg import OperationalError
    from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError

    outage = (
        ConnectionError,
        TimeoutError,
        socket.gaierror,
        urllib3.exceptions.HTTPError,
        # Another of our services unreachable (restarting): not httpx's other transport
        # errors (a bad URL scheme, a bad header), which are bugs, not outages.
        httpx.NetworkError,
        httpx.TimeoutException,
        httpx.RemoteProtocolError,
        KafkaConnectionError,
        KafkaTimeoutError,
        NodeNotReadyError,
        ServerError,
        OperationalError,
        AutoReconnect,
        ConnectionFailure,
        ServerSelectionTimeoutError,
    )
    if isinstance(exc, DinamisError):
        return not exc.permanent
    if isinstance(exc, S3Error):
        return exc.code in ("SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout")
    if isinstance(exc, outage):
        return True
    # Other OS errors are local (a bad file name, a file where a directory should be):
    # only network errors and a full disk (an operator frees it) are worth waiting for.
    return isinstance(exc, OSError) and exc.errno in NETWORK_ERRNOS


NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENETDOWN,
    errno.ETIMEDOUT,
    errno.EPIPE,
    errno.ENOSPC,
}

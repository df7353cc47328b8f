"""Recording what became of an e-mail the mail server has already accepted.

Once the SMTP server has said 250, the e-mail is out: if recording "sent" then failed
and the failure propagated, the event (or the digest round) would run again and the
same e-mail would go out twice. So that write is retried in place, whatever the error,
until the store answers (a restarting MongoDB/FerretDB, or PostgreSQL behind FerretDB,
is back within seconds). Only a process killed in between still sends it again: the
documented duplicate window. Cancellation (shutdown) is not an `Exception` and ends the
wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dinamis_shared.retry import Backoff, retry

RECORD_BACKOFF_CAP_S = 5.0


async def record_after_sending(write: Callable[[], Awaitable[None]], what: str) -> None:
    await retry(write, backoff=Backoff(cap=RECORD_BACKOFF_CAP_S), what=what)

"""Sending e-mail over SMTP (aiosmtplib).

A refusal of this message or recipient (5xx) is the message's outcome (recorded,
not retried); a server that cannot be reached or answers 4xx is an outage: the
error propagates and the event is consumed again later (`bus.subscribe`).
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib


class MailRefused(Exception):
    """The SMTP server refused this message for good (5xx)."""


class MailServerUnavailable(ConnectionError):
    """Unreachable, or a transient (4xx) answer: retry later."""


class Mailer:
    def __init__(
        self, host: str, port: int, timeout_s: float, username: str | None = None, password: str | None = None
    ) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.username, self.password = username, password

    async def send(self, message: EmailMessage) -> None:
        try:
            errors, _ = await aiosmtplib.send(
                message,
                # The envelope recipient is exactly the To address (never parsed out of a header).
                recipients=[message["To"].addresses[0].addr_spec] if message["To"] else None,
                hostname=self.host,
                port=self.port,
                timeout=self.timeout_s,
                # With credentials, TLS is required (a stripped STARTTLS offer must not send
                # the password in clear); without, STARTTLS when the server offers it.
                start_tls=True if self.username else None,
                username=self.username,
                password=self.password,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # A refusal of this one recipient (even temporary) is this mail's outcome, not a
            # server outage: retrying the whole consumer for it would stall every event.
            raise MailRefused(str(exc)) from exc
        except aiosmtplib.SMTPNotSupported as exc:  # e.g. a non-ASCII address without SMTPUTF8
            raise MailRefused(f"not supported by the mail server: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise MailRefused(f"{exc.code} {exc.message}") from exc
            raise MailServerUnavailable(f"{exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailServerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if errors:
            raise MailRefused(f"recipients refused: {errors}")

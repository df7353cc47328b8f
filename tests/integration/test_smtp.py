"""The SMTP sink: mail sent to it can be read back by tests (Maildir in the stack dir)."""

from __future__ import annotations

import mailbox
import os
import smtplib
import time
import uuid
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path


def test_mail_sent_is_readable_from_the_sink(settings):
    maildir = (
        Path(os.environ.get("DINAMIS_STACK_DIR", Path(__file__).resolve().parents[2] / ".stack")) / "mail"
    )
    marker = uuid.uuid4().hex
    msg = EmailMessage()
    msg["From"] = "DINAMIS <no-reply@dinamis.example>"
    msg["To"] = "marie@inrae.example"
    msg["Subject"] = "Votre produit est prêt / your product is ready"
    msg["X-Test-Id"] = marker
    msg.set_content("Bonjour,\nvotre produit est prêt.\n")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [m for m in mailbox.Maildir(maildir, create=False) if m["X-Test-Id"] == marker]
        if found:
            break
        time.sleep(0.2)
    assert len(found) == 1, f"mail {marker} not found in {maildir}"
    assert found[0]["To"] == "marie@inrae.example"
    subject = str(make_header(decode_header(found[0]["Subject"])))
    assert subject == "Votre produit est prêt / your product is ready"
    assert "votre produit est prêt" in found[0].get_payload(decode=True).decode()

"""The SMTP sink's Maildir read back (aiosmtpd's Mailbox handler writes one): the
(recipient, event id, kind) of each message to the run's addresses, headers only."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage

from dinamis_campaign.invariants import default_mailbox, read_mailbox


def message(to: str, event_id: str | None, kind: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "DINAMIS <noreply@dinamis.test>"
    msg["To"] = to
    msg["Subject"] = "Votre produit est prêt"
    if event_id is not None:
        msg["X-Dinamis-Event-Id"] = event_id
    msg["X-Dinamis-Kind"] = kind
    msg.set_content("prêt")
    return msg


def test_messages_to_the_run_addresses_are_read_with_their_event(tmp_path):
    box = mailbox.Maildir(tmp_path / "mail")
    box.add(message('"Anne Martin" <Anne.Martin@Example.fr>', "e1", "product-ready"))
    box.add(message("anne.martin@example.fr", "e1", "product-ready"))  # the same e-mail twice
    box.add(message("anne.martin@example.fr", None, "digest"))
    box.add(message("someone.else@example.fr", "e2", "product-ready"))
    found = sorted(read_mailbox(tmp_path / "mail", {"anne.martin@example.fr"}))
    assert found == [
        ("anne.martin@example.fr", "", "digest"),
        ("anne.martin@example.fr", "e1", "product-ready"),
        ("anne.martin@example.fr", "e1", "product-ready"),
    ]


def test_the_default_mailbox_is_the_stack_s_when_it_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("DINAMIS_STACK_DIR", str(tmp_path))
    assert default_mailbox() is None
    (tmp_path / "mail").mkdir()
    assert default_mailbox() == tmp_path / "mail"
    monkeypatch.delenv("DINAMIS_STACK_DIR")
    assert default_mailbox() is None

"""The operators' digest: operations e-mails of those who chose it, gathered into one
e-mail per recipient every `digest_interval_s`.

The history documents waiting (`digest-pending`) are the digest's content; once
the e-mail is accepted they become `digested` (retried until the store answers:
`outcome.record_after_sending`). A crash between the two sends that digest again at
the next round (documented duplicate window). The rounds are run by
`dinamis_shared.periodic.every` (see `bootstrap.start`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from functools import partial

from dinamis_notify.adapters.mailer import MailRefused
from dinamis_notify.adapters.store import now
from dinamis_notify.domain.routing import Kind
from dinamis_notify.service.emails import digest_item, render_digest
from dinamis_notify.service.outcome import record_after_sending
from dinamis_notify.service.ports import DigestStore, MailSender
from dinamis_notify.settings import NotifySettings

log = logging.getLogger(__name__)
MAX_ITEMS = 500


class Digests:
    def __init__(self, store: DigestStore, mailer: MailSender, settings: NotifySettings) -> None:
        self.store, self.mailer, self.settings = store, mailer, settings

    async def send_due(self) -> int:
        """Send every waiting digest; return how many e-mails went out."""
        by_recipient: dict[str, list[dict]] = defaultdict(list)
        for doc in await self.store.digest_pending():
            by_recipient[doc["recipient"]].append(doc)
        sent = 0
        for recipient, docs in by_recipient.items():
            docs = sorted(docs, key=lambda d: d["created_at"])[:MAX_ITEMS]
            user = await self.store.user(recipient)
            ids = [d["_id"] for d in docs]
            if user is None or not user.get("active"):
                await self.store.settle_all(ids, "no-recipient")
                continue
            language = docs[-1].get("language") or user.get("language") or "fr"
            items = [
                digest_item(Kind(d["kind"]), d.get("summary") or {}, language, self.settings.public_web_url)
                for d in docs
            ]
            email = render_digest(
                items,
                language=language,
                sender=self.settings.mail_from,
                to=user["email"],
                name=user.get("display_name") or "",
                web_url=self.settings.public_web_url,
                headers={"X-Dinamis-Kind": "digest"},
            )
            try:
                await self.mailer.send(email)
                status = "digested"
            except MailRefused:
                status = "refused"
            await record_after_sending(
                partial(self.store.settle_all, ids, status, sent_at=now()), f"recording {recipient}'s digest"
            )
            sent += status == "digested"
        return sent

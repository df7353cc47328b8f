"""The use case behind every notify subscription: one event in, people told.

1. `user-changed` only updates the recipient directory.
2. Otherwise `routing.route` says which feeds show the event and who gets a
   personal message of which kind.
3. Feeds: the entry is stored in the stream history (once per event and feed),
   fanned out to connected SSE clients, and a delivery is queued for each webhook
   registered on the feed.
4. Messages: each recipient's preferences decide whether an e-mail goes out now,
   joins their digest, or not at all. A history document per (dedupe key,
   recipient, channel), inserted before sending, makes a second consumption of the
   same event send nothing. Once the SMTP server has accepted an e-mail, its "sent"
   mark is retried until the store answers (`outcome.record_after_sending`): a store
   outage then sends nothing twice. If the process dies between the acceptance and
   the mark, the event is consumed again and that one e-mail is sent again: the only
   duplicate window, a few milliseconds wide.
"""

from __future__ import annotations

import logging
from functools import partial

from prometheus_client import Counter

from dinamis_notify.adapters.mailer import MailRefused
from dinamis_notify.adapters.store import now
from dinamis_notify.domain.preferences import Preferences
from dinamis_notify.domain.routing import (
    Message,
    Plan,
    RequestMemo,
    ToOperators,
    ToReferents,
    ToUser,
    route,
)
from dinamis_notify.service.emails import render_notification
from dinamis_notify.service.live import Hub
from dinamis_notify.service.outcome import record_after_sending
from dinamis_notify.service.ports import MailSender, NotifierStore
from dinamis_notify.service.webhooks import Webhooks
from dinamis_notify.settings import NotifySettings
from dinamis_shared.cloudevents import Envelope
from dinamis_shared.events import (
    OrganisationChangedV1,
    OrganisationStatus,
    RequestApprovedV1,
    RequestRejectedV1,
    RequestSubmittedV1,
    RequestUpdatedV1,
    SceneIngestedV1,
    UserChangedV1,
)

log = logging.getLogger(__name__)

EMAILS = Counter("dinamis_notify_emails_total", "E-mail outcomes", ["outcome"])


class Notifier:
    def __init__(
        self,
        store: NotifierStore,
        mailer: MailSender,
        hub: Hub,
        webhooks: Webhooks,
        settings: NotifySettings,
    ) -> None:
        self.store, self.mailer, self.hub, self.webhooks, self.settings = (
            store,
            mailer,
            hub,
            webhooks,
            settings,
        )

    async def handle(self, envelope: Envelope) -> None:
        """Consumes scene-ingested, scene-rejected, request-submitted/-approved/-rejected/
        -updated, product-ready/-failed, organisation-changed and user-changed; emits
        nothing on Kafka (e-mails, stream entries and webhook deliveries instead)."""
        event = envelope.event
        if isinstance(event, UserChangedV1):
            changed = await self.store.upsert_user(
                {
                    "_id": event.user_id,
                    "revision": event.revision,
                    "organisation_id": event.organisation_id,
                    "email": event.email,
                    "display_name": event.display_name,
                    "language": event.language,
                    "roles": list(event.roles),
                    "active": event.active,
                    "changed_at": event.changed_at,
                }
            )
            if changed:  # open streams were authorised with the old state: end them (they reconnect)
                self.hub.revoke(event.user_id)
            return
        request: RequestMemo | None = None
        previous_org_status: OrganisationStatus | None = None
        match event:
            case RequestSubmittedV1() | RequestUpdatedV1():
                await self.store.remember_request(event.request_id, event.organisation_id, event.submitted_by)
            case RequestApprovedV1() | RequestRejectedV1():
                request = await self._request_memo(event.request_id)
            case SceneIngestedV1() if event.acquisition_request_id:
                request = await self._request_memo(event.acquisition_request_id)
            case OrganisationChangedV1():
                known = await self.store.organisation(event.organisation_id)
                if known is not None and known["revision"] >= event.revision:
                    previous_org_status = event.status  # already handled, or older than what we know
                elif known is not None:
                    previous_org_status = OrganisationStatus(known["status"])
        plan = route(event, envelope.id, request=request, previous_org_status=previous_org_status)
        await self._publish_to_feeds(envelope, plan)
        for message in plan.messages:
            for user in await self._recipients(message):
                await self._email(envelope, plan, message, user)
        if isinstance(event, OrganisationChangedV1):  # after the messages: a crash re-sends, never skips
            await self.store.remember_organisation(event.organisation_id, event.revision, event.status.value)

    async def _request_memo(self, request_id: str) -> RequestMemo | None:
        doc = await self.store.request(request_id)
        if doc is None:
            return None
        return RequestMemo(request_id, doc["organisation_id"], doc["submitted_by"])

    async def _publish_to_feeds(self, envelope: Envelope, plan: Plan) -> None:
        for feed in plan.feeds:
            entry = await self.store.append_stream(
                {
                    "key": f"{envelope.id}|{feed}",
                    "feed": feed,
                    "ce_id": envelope.id,
                    "type": envelope.type,
                    "name": plan.name,
                    "subject": envelope.subject,
                    "time": (envelope.time or now()).isoformat(),
                    "summary": plan.summary,
                    "created_at": now(),
                }
            )
            self.hub.publish(entry)
            await self.webhooks.enqueue(envelope, feed, plan.name)

    async def _recipients(self, message: Message) -> list[dict]:
        match message.audience:
            case ToUser(user_id):
                user = await self.store.user(user_id)
                if user is None or not user.get("active"):
                    log.info("no active recipient in the directory", extra={"user_id": user_id})
                    EMAILS.labels("unknown-recipient").inc()
                    return []
                return [user]
            case ToOperators():
                return await self.store.active_users({"roles": "operator"})
            case ToReferents(organisation_id):
                return await self.store.active_users(
                    {"organisation_id": organisation_id, "roles": "referent"}
                )
        return []

    async def _email(self, envelope: Envelope, plan: Plan, message: Message, user: dict) -> None:
        prefs = Preferences.model_validate(await self.store.preferences(user["_id"]) or {})
        language = prefs.language or user.get("language") or "fr"
        history_id = f"{message.key}|{user['_id']}|email"
        if not prefs.wants_email(message.kind):
            status = "off"
        elif prefs.digests(message.kind):
            status = "digest-pending"
        else:
            status = "pending"
        existing = await self.store.claim(
            {
                "_id": history_id,
                "key": message.key,
                "event_id": envelope.id,
                "event_type": envelope.type,
                "kind": message.kind.value,
                "recipient": user["_id"],
                "organisation_id": user.get("organisation_id"),
                "channel": "email",
                "address": user.get("email"),
                "language": language,
                "summary": plan.summary,
                "status": status,
                "created_at": now(),
            }
        )
        if existing is not None and existing.get("status") != "pending":
            EMAILS.labels("duplicate").inc()
            return  # sent, digested, refused or off already: the same event consumed again
        if existing is not None:
            status = "pending"  # a previous try did not finish (outage or crash): try again
        if status != "pending":
            EMAILS.labels(status).inc()
            return
        email = render_notification(
            message.kind,
            plan.summary,
            language=language,
            sender=self.settings.mail_from,
            to=user["email"],
            name=user.get("display_name") or "",
            web_url=self.settings.public_web_url,
            headers={"X-Dinamis-Event-Id": envelope.id, "X-Dinamis-Kind": message.kind.value},
        )
        try:
            await self.mailer.send(email)  # MailServerUnavailable propagates: the event is retried
        except MailRefused as exc:
            await record_after_sending(
                partial(self.store.settle, history_id, "refused", error=str(exc)[:1000], settled_at=now()),
                f"recording e-mail {history_id} refused",
            )
            EMAILS.labels("refused").inc()
            return
        await record_after_sending(
            partial(self.store.settle, history_id, "sent", sent_at=now(), message_id=email["Message-ID"]),
            f"recording e-mail {history_id} sent",
        )
        EMAILS.labels("sent").inc()

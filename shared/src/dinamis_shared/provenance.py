"""Did the orders service issue this event? Consumers ask before acting on one.

The bus's ACLs let only the orders service's principal produce on its topics. A leaked
credential or a wrong ACL would still let someone forge a `delivery-requested` (a
product built for a non-member) or a `user-changed` (a directory entry redirected, with
a huge revision so that it sticks). So the consumers defend themselves too: before
handling an event whose producer is the orders service, the consume policy calls
`IssuedEvents.confirm`, which asks orders (`POST /v1/internal/events/verify`) whether
its outbox holds this event — same id, same type, same data. Orders keeps every event
it emits in the revision that implied it (`adapters/aggregates.py`), so the answer
comes from its records, not from anything the record on the bus says about itself.

- 200: issued; the consumer goes on (the answer is cached by id, type and data);
- 404 `not-issued`: `NotIssued`, permanent: the record is dead-lettered with that code
  and nothing is built, stored or sent;
- orders unreachable or failing: an outage, retried for as long as it lasts.

The consumer authenticates as itself: an OAuth2 client-credentials token of its own
client at the identity provider (`ServiceTokens`: `service-<name>` and its secret,
`auth_token_url`); orders answers only the platform's service clients.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from dinamis_shared.cloudevents import Envelope
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import Event

VERIFY_PATH = "/v1/internal/events/verify"


class NotIssued(DinamisError):
    """The orders service has no record of emitting this event: forged or corrupted."""

    code = "not-issued"
    http_status = 404
    message_fr = "Événement non émis par le service des commandes."


class Unavailable(DinamisError):
    """A server this consumer depends on cannot answer now: retried, never dead-lettered."""

    code = "unavailable"
    http_status = 503
    permanent = False


class ServiceTokens:
    """This service's own access token (OAuth2 client credentials), cached until shortly
    before it expires."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        client: httpx.AsyncClient | None = None,
        margin_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not token_url:
            raise ValueError("auth_token_url is unset: a service cannot obtain its own token")
        self.token_url, self.client_id, self._secret = token_url, client_id, client_secret
        self._client = client or httpx.AsyncClient(timeout=10.0)
        self.margin_s, self.clock = margin_s, clock
        self._token: str | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def bearer(self) -> str:
        async with self._lock:
            if self._token is None or self.clock() >= self._until:
                await self._fetch()
            assert self._token is not None
            return self._token

    def forget(self) -> None:
        """Drop the cached token (the server refused it): the next call fetches another."""
        self._token = None

    async def _fetch(self) -> None:
        try:
            response = await self._client.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self._secret),
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"identity provider unreachable: {exc}") from exc
        if response.status_code >= 500:
            raise Unavailable(f"identity provider answered {response.status_code}")
        if response.status_code != 200:
            # A wrong secret or a disabled client: not an outage, but the record is not at
            # fault either. Raised as retryable; the consume policy gives up after its attempts.
            raise RuntimeError(
                f"client {self.client_id!r} refused by the identity provider: {response.text[:200]}"
            )
        body = response.json()
        self._token = str(body["access_token"])
        lifetime = float(body.get("expires_in", 60))
        self._until = self.clock() + max(1.0, lifetime - self.margin_s)

    async def aclose(self) -> None:
        await self._client.aclose()


class IssuedEvents:
    """Asks the orders service whether it issued an event (see the module docstring)."""

    def __init__(
        self,
        orders_url: str,
        tokens: ServiceTokens,
        *,
        producer: str = "orders",
        client: httpx.AsyncClient | None = None,
        cache_size: int = 10_000,
    ) -> None:
        self.url = orders_url.rstrip("/") + VERIFY_PATH
        self.tokens = tokens
        self.producer = producer
        self._client = client or httpx.AsyncClient(timeout=10.0)
        self._confirmed: OrderedDict[str, None] = OrderedDict()
        self.cache_size = cache_size

    def applies(self, model: type[Event]) -> bool:
        return model.PRODUCER == self.producer

    async def confirm(self, envelope: Envelope) -> None:
        """Returns if the producer issued this event; raises `NotIssued` if it did not,
        `Unavailable` if it cannot tell now."""
        if not self.applies(type(envelope.event)):
            return
        body: dict[str, Any] = {
            "id": envelope.id,
            "type": envelope.type,
            "data": envelope.event.model_dump(mode="json"),
        }
        # Cached by what was confirmed, not by id alone: a forged record reusing a genuine
        # event's id with other data is asked about again (and refused).
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key in self._confirmed:
            return
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {await self.tokens.bearer()}"}
            try:
                response = await self._client.post(self.url, json=body, headers=headers)
            except httpx.HTTPError as exc:
                raise Unavailable(f"the {self.producer} service is unreachable: {exc}") from exc
            if response.status_code == 401 and attempt == 0:
                self.tokens.forget()  # expired or rotated keys: one more try with a new token
                continue
            break
        if response.status_code == 200:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if answer != {"issued": True, "id": envelope.id}:  # not orders' answer: never a yes
                raise RuntimeError(f"unexpected answer to an event verification: {response.text[:300]}")
            self._confirmed[key] = None
            while len(self._confirmed) > self.cache_size:
                self._confirmed.popitem(last=False)
            return
        if response.status_code == 404:
            raise NotIssued(
                f"the {self.producer} service did not issue event {envelope.id} ({envelope.type})",
                message_fr=(
                    f"le service {self.producer} n'a pas émis l'événement {envelope.id} ({envelope.type})"
                ),
            )
        if response.status_code >= 500:
            raise Unavailable(f"the {self.producer} service answered {response.status_code}")
        raise RuntimeError(f"event verification refused ({response.status_code}): {response.text[:300]}")

    async def aclose(self) -> None:
        await self._client.aclose()
        await self.tokens.aclose()


def issued_events_from_settings(settings: Any, consumed: Iterable[type[Event]]) -> IssuedEvents | None:
    """The checker of a consumer of the `consumed` event types; None when it consumes no
    event of the orders service, is the orders service, or `verify_event_issuer` is off
    (development only: production refuses it)."""
    if settings.SERVICE == "orders" or not any(model.PRODUCER == "orders" for model in consumed):
        return None
    if not settings.verify_event_issuer:
        return None
    tokens = ServiceTokens(
        settings.auth_token_url,
        settings.service_client_id,
        settings.service_client_secret.get_secret_value(),
    )
    return IssuedEvents(settings.orders_url, tokens)

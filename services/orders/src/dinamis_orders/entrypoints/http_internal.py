"""Routes other platform services call with their own client-credentials token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dinamis_orders.entrypoints.deps import ContainerDep
from dinamis_orders.service.provenance import AnyOf, EmittedEvents, was_issued
from dinamis_shared.auth import LOCAL_ISSUER, AuthenticatedService, Forbidden
from dinamis_shared.provenance import NotIssued
from dinamis_shared.topics import BY_CE_TYPE

router = APIRouter(prefix="/v1/internal", tags=["internal"])


class EventToVerify(BaseModel):
    """A CloudEvent as a consumer received it: its id, type and data."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    data: dict[str, Any]


@router.post("/events/verify")
async def verify_event(body: EventToVerify, caller: AuthenticatedService, container: ContainerDep) -> dict:
    """Did this service emit this event (same id, type and data)? 200 if it did, 404
    `not-issued` if not. Only the consumers' own service clients may ask
    (`event_verifiers`, tokens of the configured identity provider): anyone else 403."""
    settings = container.settings
    # A service token of the configured identity provider, never of the local development key.
    allowed = settings.event_verifiers.get(caller.client_id or "") if caller.issuer != LOCAL_ISSUER else None
    if caller.issuer != settings.auth_issuer or allowed is None:
        raise Forbidden(
            "only the platform's services may verify events",
            code="not-a-service",
            message_fr="réservé aux services de la plateforme",
        )
    model = BY_CE_TYPE.get(body.type)
    if "*" not in allowed and (model is None or model.EVENT not in allowed):
        raise Forbidden(
            f"{caller.client_id} may not verify {body.type} events",
            code="not-a-consumer",
            message_fr=f"{caller.client_id} ne peut pas vérifier les événements {body.type}",
        )
    stores: dict[str, EmittedEvents] = {
        "order_id": container.stores.product_orders,
        "request_id": container.stores.requests,
        "organisation_id": AnyOf(container.stores.organisations, container.stores.ledger.event_outbox),
        "user_id": container.stores.users,
    }
    if not await was_issued(stores, body.id, body.type, body.data):
        raise NotIssued(
            f"no event {body.id} ({body.type}) with this data was issued here",
            message_fr=f"aucun événement {body.id} ({body.type}) avec ces données n'a été émis ici",
        )
    return {"issued": True, "id": body.id}

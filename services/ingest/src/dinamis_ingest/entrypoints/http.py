"""Supplier push endpoint, for suppliers that cannot write to Kafka.

    POST /v1/suppliers/{supplier}/deliveries
    X-Dinamis-Timestamp: <unix seconds>
    X-Dinamis-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
    body: the scene-acquired event (JSON, as in docs/asyncapi.yaml)

Who may call it: a supplier holding its shared secret. Requests older (or newer)
than 5 minutes are refused, so a captured request cannot be replayed later; one
replayed within the window only announces the same delivery again, which ingest
treats idempotently. An unknown supplier, a missing header and a bad signature get the
same 401 after the same work (the body read, the timestamp checked, an HMAC computed):
the answer does not say which supplier names exist.
"""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from dinamis_ingest.bootstrap import container
from dinamis_shared.edge import check_json
from dinamis_shared.events import SceneAcquiredV1
from dinamis_shared.health import problem_response
from dinamis_shared.signing import MAX_SKEW_S, verify

router = APIRouter(prefix="/v1/suppliers", tags=["suppliers"])
MAX_BODY = 1024 * 1024


def _refuse(status: int, code: str, fr: str, en: str) -> JSONResponse:
    return problem_response(status, en, f"{fr} / {en}", code)


# Checked against when the supplier is unknown (never matches a signature made without it).
_DECOY = secrets.token_urlsafe(32)


def _unauthenticated() -> JSONResponse:
    """The one answer to an unknown supplier, an unsigned request and a bad signature."""
    return _refuse(
        401,
        "unauthenticated",
        "Fournisseur inconnu, requête non signée ou signature invalide",
        "unknown supplier, unsigned request or invalid signature",
    )


@router.post("/{supplier}/deliveries", status_code=202)
async def push_delivery(
    supplier: str,
    request: Request,
    x_dinamis_timestamp: str | None = Header(default=None),
    x_dinamis_signature: str | None = Header(default=None),
) -> JSONResponse:
    """Announce a delivery staged in the `staging` bucket. Callers: suppliers (HMAC)."""
    ingest = container(request)
    too_large = _refuse(413, "body-too-large", "Corps de requête trop volumineux", "request body too large")
    try:
        if int(request.headers.get("content-length", "0")) > MAX_BODY:
            return too_large
    except ValueError:
        return too_large
    body = b""
    async for chunk in request.stream():  # bounded even without a truthful Content-Length
        body += chunk
        if len(body) > MAX_BODY:
            return too_large
    if not x_dinamis_timestamp or not x_dinamis_signature:
        return _unauthenticated()
    try:
        skew = abs(time.time() - int(x_dinamis_timestamp))
    except ValueError:
        return _refuse(401, "bad-timestamp", "Horodatage invalide", "invalid timestamp")
    if skew > MAX_SKEW_S:
        return _refuse(
            401,
            "stale-request",
            "Requête trop ancienne ou datée du futur (rejeu ?)",
            "request older than 5 minutes or from the future (replay?)",
        )
    # An unknown supplier goes through the same steps as a bad signature (a throwaway
    # secret, the same HMAC work) and gets the same answer: names cannot be enumerated.
    secret = ingest.settings.supplier_secrets.get(supplier)
    key = secret.get_secret_value() if secret is not None else _DECOY
    signed = verify(key, x_dinamis_timestamp, x_dinamis_signature, body)
    if secret is None or not signed:
        return _unauthenticated()
    # Read whatever the Content-Type says, so checked here with the edge's one JSON check
    # (NUL bytes, non-finite numbers), which only sees bodies labelled JSON.
    if (refused := check_json(body)) is not None:
        return refused.response(request.headers.get("accept-language", ""))
    try:
        event = SceneAcquiredV1.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()[:20]]
        return problem_response(
            422,
            "Invalid event",
            "Événement invalide / invalid scene-acquired event",
            "invalid-event",
            errors=errors,
        )
    if event.supplier != supplier:
        return _refuse(
            403,
            "wrong-supplier",
            "Le fournisseur de l'événement ne correspond pas à la signature",
            "the event's supplier is not the signing supplier",
        )
    if event.staging.bucket != "staging" or not event.staging.prefix.startswith(f"{supplier}/"):
        return _refuse(
            403,
            "foreign-staging",
            f"Un fournisseur ne dépose que sous staging/{supplier}/",
            f"a supplier may only announce deliveries under staging/{supplier}/",
        )
    try:
        record = await ingest.publisher.publish(event)
    except Exception:  # the bus is down: the supplier retries later
        response = _refuse(
            503,
            "bus-unavailable",
            "Service momentanément indisponible, réessayez",
            "temporarily unavailable, retry",
        )
        response.headers["Retry-After"] = "30"
        return response
    return JSONResponse(
        {"status": "accepted", "scene_id": event.scene_id, "ce_id": record.headers["ce_id"]}, status_code=202
    )

"""The ops console's pipeline section (`/ops/chaine`): the services' readiness, consumer
lag per group and topic, throughput from the services' metrics; the dead letters of every
`.dlq` topic, newest first, one by one; the replay of one dead letter or a selection to
its original topic, once per dead letter unless the operator asks again, each replay
(refused ones too) written to the operators' journal.

Every route depends on `StaffDep`/`StaffPost`; Kafka is reached through the port of
ops/kafka_admin.py, the services over HTTP through ops/pipeline.ServiceProbe."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from dinamis_portal.bootstrap import PortalContainer, PortalDep
from dinamis_portal.entrypoints.pages import render
from dinamis_portal.errors import PortalError, bad_input, wants_html
from dinamis_portal.ops import pipeline_texts  # noqa: F401  (registers the texts)
from dinamis_portal.ops.audit import OpsAudit
from dinamis_portal.ops.frame import BASE, done_notices, field, ops_context, reason_missing
from dinamis_portal.ops.guard import StaffDep, StaffPost
from dinamis_portal.ops.kafka_admin import DLQ_TOPICS, PipelineBus
from dinamis_portal.ops.pipeline import (
    DeadLetter,
    PipelinePorts,
    Ref,
    Rejection,
    dlq_topic,
    format_cursor,
    parse_cursor,
    parse_offset,
    parse_ref,
    replay_of,
    replay_refused,
)
from dinamis_portal.ops.staff import Staff
from dinamis_shared.events import SceneRejectedV1

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
PATH = f"{BASE}/chaine"
LETTERS = f"{PATH}/lettres"
PAGE = 20
MAX_SELECTION = 50
REJECTED = SceneRejectedV1.topic()
SHOWN_ON_PAGE = frozenset({"already-replayed", "not-a-registry-topic", "value-dropped"})
BUS_ERRORS = (KafkaError, OSError, asyncio.TimeoutError)
done_notices("dlq-replayed", "dlq-replayed-some")


def ports_of(container: PortalContainer) -> PipelinePorts:
    found = container.pipeline
    assert found is not None, "the pipeline ports are wired in bootstrap"
    return found


def audit_of(container: PortalContainer) -> OpsAudit:
    found = container.ops_audit
    assert found is not None, "the journal is wired in bootstrap"
    return found


def bus_down(exc: BaseException) -> PortalError:
    log.warning("kafka unreachable from the console", extra={"error": f"{type(exc).__name__}: {exc}"})
    return PortalError(
        "the event bus (Kafka) does not answer: try again in a moment",
        code="bus-unavailable",
        message_fr="le bus d'événements (Kafka) ne répond pas : réessayez dans un instant",
        status=503,
    )


async def _or_error(what: Any) -> tuple[Any, PortalError | None]:
    try:
        return await what, None
    except BUS_ERRORS as exc:
        return None, bus_down(exc)


@router.get(PATH)
async def health(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    ports = ports_of(container)
    readiness, throughput, (lags, lag_error), (sizes, size_error), hooks = await asyncio.gather(
        ports.probe.readiness(),
        ports.probe.throughput(),
        _or_error(ports.bus.lags()),
        _or_error(ports.bus.dlq_sizes()),
        ports.notify.failing_webhooks(staff.token) if ports.notify else _nothing(),
    )
    lags = lags or []
    indexing = next((lag for lag in lags if lag.group == "catalog"), None)
    context = await ops_context(request, container, staff, "pipeline")
    context.update(
        readiness=readiness,
        all_ready=all(r.ready for r in readiness),
        throughput=throughput,
        lags=lags,
        lag_error=lag_error,
        indexing=indexing,
        sizes=sizes or {},
        size_error=size_error,
        dlq_topics=DLQ_TOPICS,
        hooks=hooks,
    )
    return render(request, "ops/pipeline/health.html.j2", context)


async def _nothing() -> None:
    return None


@router.get(LETTERS)
async def letters(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    q = request.query_params
    topic = dlq_topic(q.get("file") or DLQ_TOPICS[0])
    before = parse_cursor((q.get("avant") or "")[:4000])
    ports = ports_of(container)
    try:
        page = await ports.bus.page(topic, before, PAGE)
    except BUS_ERRORS as exc:
        raise bus_down(exc) from exc
    shown = [DeadLetter(r) for r in page.records]
    context = await ops_context(request, container, staff, "pipeline")
    context.update(
        topic=topic,
        dlq_topics=DLQ_TOPICS,
        letters=shown,
        total=page.total,
        older=format_cursor(page.cursor) if page.cursor else None,
        first_page=before is None,
        replays=await ports.claims.counts([d.ref for d in shown]),
        outcome=_outcome_counts(request),
    )
    return render(request, "ops/pipeline/letters.html.j2", context)


@router.get(f"{PATH}/rejets")
async def rejections(request: Request, container: PortalDep, staff: StaffDep) -> Response:
    """Catalogue QA: ingest's rejections (`scene-rejected` events, newest first) with
    their reasons."""
    before = parse_cursor((request.query_params.get("avant") or "")[:4000])
    try:
        page = await ports_of(container).bus.page(REJECTED, before, PAGE)
    except BUS_ERRORS as exc:
        raise bus_down(exc) from exc
    context = await ops_context(request, container, staff, "pipeline")
    context.update(
        rejections=[Rejection.of(r) for r in page.records],
        total=page.total,
        older=format_cursor(page.cursor) if page.cursor else None,
        first_page=before is None,
    )
    return render(request, "ops/pipeline/rejections.html.j2", context)


def _outcome_counts(request: Request) -> dict[str, int] | None:
    q = request.query_params
    raw = {k: q.get(k, "") for k in ("rejouees", "refusees")}
    if not all(v.isascii() and v.isdigit() and len(v) < 4 for v in raw.values()):
        return None
    return {k: int(v) for k, v in raw.items()}


@router.get(LETTERS + "/{topic}/{partition}/{offset}")
async def letter(
    request: Request, container: PortalDep, staff: StaffDep, topic: str, partition: str, offset: str
) -> Response:
    ref = Ref(dlq_topic(topic), parse_offset(partition, "partition"), parse_offset(offset))
    return await _letter_page(request, container, staff, ref)


async def _letter_page(
    request: Request, container: PortalContainer, staff: Staff, ref: Ref, refusal: PortalError | None = None
) -> Response:
    ports = ports_of(container)
    found = await _read(ports.bus, ref)
    context = await ops_context(request, container, staff, "pipeline")
    context.update(
        letter=found,
        topic=ref.topic,
        replays=(await ports.claims.counts([str(ref)])).get(str(ref), 0),
        history=await audit_of(container).entries(target=str(ref), limit=20),
    )
    if refusal is not None:
        detail = refusal.message_fr if context["lang"] == "fr" else str(refusal)
        context["refusal"] = {"detail": detail, "code": refusal.code}
    return render(
        request, "ops/pipeline/letter.html.j2", context, status=refusal.http_status if refusal else 200
    )


async def _read(bus: PipelineBus, ref: Ref) -> DeadLetter:
    try:
        record = await bus.read(ref.topic, ref.partition, ref.offset)
    except BUS_ERRORS as exc:
        raise bus_down(exc) from exc
    if record is None:
        raise PortalError(
            "no such dead letter (or no longer kept)",
            code="not-found",
            message_fr="lettre morte introuvable (ou plus conservée)",
            status=404,
        )
    return DeadLetter(record)


def _selection(form: FormData) -> list[tuple[str, int]]:
    """The `lettre` fields: `<topic>:<partition>:<offset>@<replays seen>`."""
    out = []
    for raw in form.getlist("lettre")[: MAX_SELECTION + 1]:
        value = raw if isinstance(raw, str) else ""
        ref, _, seen = value.partition("@")
        out.append((ref[:200], parse_offset(seen or "0", "vu")))
    if not out:
        raise bad_input(
            "nothing-selected", "cochez au moins une lettre morte", "select at least one dead letter"
        )
    if len(out) > MAX_SELECTION:
        raise bad_input(
            "too-many",
            f"au plus {MAX_SELECTION} lettres à la fois",
            f"at most {MAX_SELECTION} letters at once",
        )
    return out


@router.post(f"{PATH}/rejouer")
async def replay(request: Request, container: PortalDep, staff: StaffPost) -> Response:
    form = await request.form()
    audit = audit_of(container)
    selection = _selection(form)
    reason = field(form, "reason", 2000)
    again = field(form, "again", 10) == "oui"
    if not reason:
        for raw, _ in selection:
            await audit.record(
                staff, "dlq.replay", raw, outcome="refused", details={"code": "reason-required"}
            )
        raise reason_missing()
    done_count, refusals = 0, []
    for raw, seen in selection:
        try:
            await _replay_one(container, staff, raw, seen, again, reason)
            done_count += 1
        except PortalError as refusal:
            refusals.append(refusal)
    if len(selection) == 1 and refusals:
        # A browser stays on the letter's page, the service's refusal shown there.
        if wants_html(request) and refusals[0].code in SHOWN_ON_PAGE:
            return await _letter_page(request, container, staff, parse_ref(selection[0][0]), refusals[0])
        raise refusals[0]
    if len(selection) == 1:
        ref = parse_ref(selection[0][0])
        return RedirectResponse(f"{LETTERS}/{ref.topic}/{ref.partition}/{ref.offset}?fait=dlq-replayed", 303)
    try:
        topic = parse_ref(selection[0][0]).topic
    except PortalError:
        topic = DLQ_TOPICS[0]
    key = "dlq-replayed" if not refusals else "dlq-replayed-some"
    return RedirectResponse(
        f"{LETTERS}?file={topic}&fait={key}&rejouees={done_count}&refusees={len(refusals)}", 303
    )


async def _replay_one(
    container: PortalContainer, staff: Staff, raw: str, seen: int, again: bool, reason: str
) -> None:
    """Replay one dead letter; every outcome journaled. Raises the refusal."""
    audit = audit_of(container)
    ports = ports_of(container)
    target = raw
    try:
        ref = parse_ref(raw)
        target = str(ref)
        letter = await _read(ports.bus, ref)
        topic, key, value, headers = replay_of(letter, staff.email or staff.user_id)
    except PortalError as refusal:
        await audit.record(
            staff, "dlq.replay", target, reason=reason, outcome="refused", details={"code": refusal.code}
        )
        raise
    about = {
        "event_type": letter.event_type,
        "event_id": letter.event_id,
        "subject": letter.subject,
        "original": letter.original,
        "dlq_code": letter.code,
    }
    count = await ports.claims.claim(target, seen, again, staff.user_id)
    if count is None:
        already = replay_refused(
            "already-replayed",
            "cette lettre morte a déjà été rejouée (par vous ou un autre opérateur) : "
            "cochez « rejouer encore » pour la rejouer à nouveau",
            "this dead letter was already replayed (by you or another operator): "
            "tick 'replay again' to replay it once more",
        )
        await audit.record(
            staff,
            "dlq.replay",
            target,
            reason=reason,
            outcome="refused",
            details={**about, "code": already.code, "again": again, "seen": seen},
        )
        raise already
    try:
        partition, offset = await ports.bus.publish(topic, key, value, headers)
    except BUS_ERRORS as exc:
        await ports.claims.release(target, count)
        await audit.record(
            staff,
            "dlq.replay",
            target,
            reason=reason,
            outcome="failed",
            details={**about, "code": "bus-unavailable", "error": type(exc).__name__},
        )
        raise bus_down(exc) from exc
    await audit.record(
        staff,
        "dlq.replay",
        target,
        reason=reason,
        details={**about, "replayed_to": f"{topic}:{partition}:{offset}", "replay": count},
    )

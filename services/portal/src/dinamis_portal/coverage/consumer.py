"""The board's consumer: the three scene topics, read in group `portal-coverage` (the
portal's Kafka principal may read them, `dinamis_shared.acls.ops_console_acls`), each
event applied to the board, then its offset committed (at-least-once; the board is
idempotent by event id). An undecodable or hostile record is skipped with a log line; a
failure of the store or of Kafka restarts the loop after the shared backoff.

Also here: the publication check, every few seconds, of the cells still "ingested":
their scene's item in the catalogue's STAC API (public reads) makes them "published"."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer
from pymongo.errors import PyMongoError

from dinamis_portal.coverage.board import CoverageBoard, now_iso
from dinamis_portal.errors import PortalError
from dinamis_portal.upstream import Catalogue
from dinamis_shared import cloudevents
from dinamis_shared.errors import MalformedEvent
from dinamis_shared.events import SceneAcquiredV1, SceneIngestedV1, SceneRejectedV1
from dinamis_shared.retry import Backoff, retry
from dinamis_shared.settings import ServiceSettings

log = logging.getLogger(__name__)
GROUP = "portal-coverage"
TOPICS = {e.topic(): e for e in (SceneAcquiredV1, SceneIngestedV1, SceneRejectedV1)}


async def handle_record(
    board: CoverageBoard, topic: str, key: bytes | None, headers: Any, value: bytes | None
) -> str:
    """One Kafka record: decoded, checked against its topic, applied. Never raises for
    a bad record (skipped, logged): a record the board cannot apply for any reason but
    its store's outage is skipped too, so one hostile event never freezes the board.
    Raises when the store fails (retry)."""
    expected = TOPICS.get(topic)
    if expected is None:
        log.warning("coverage: record of an unexpected topic skipped", extra={"topic": topic})
        return "skipped:topic"
    try:
        envelope = cloudevents.decode(headers or [], value, expected=expected, key=key)
    except MalformedEvent as exc:
        log.warning("coverage: malformed event skipped", extra={"topic": topic, "error": str(exc)[:300]})
        return "skipped:malformed"
    try:
        return await board.apply(envelope.id, envelope.event)
    except PyMongoError:
        raise  # the store's outage: the batch is read again once it is back
    except Exception as exc:
        log.warning(
            "coverage: event the board cannot apply skipped",
            extra={"topic": topic, "event_id": envelope.id, "error": f"{type(exc).__name__}: {exc}"[:300]},
        )
        return "skipped:unapplicable"


class CoverageConsumer:
    def __init__(self, board: CoverageBoard, settings: ServiceSettings) -> None:
        self.board = board
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None
        self._stopping = False

    async def run(self) -> None:
        await retry(
            self._consume,
            retry_if=lambda exc: not self._stopping,
            backoff=Backoff(base=0.5, cap=30.0),
            what="coverage consumer",
        )

    def stop(self) -> None:
        self._stopping = True

    async def _consume(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(
            *TOPICS,
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=GROUP,
            client_id=f"{s.client_id}-coverage",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **s.kafka_auth(),
        )
        await self.consumer.start()
        try:
            while not self._stopping:
                batch = await self.consumer.getmany(timeout_ms=500, max_records=100)
                for records in batch.values():
                    for record in records:
                        await handle_record(
                            self.board, record.topic, record.key, record.headers, record.value
                        )
                if batch:
                    await self.consumer.commit()
        finally:
            with contextlib.suppress(Exception):
                await self.consumer.stop()


async def check_published(board: CoverageBoard, catalogue: Catalogue, limit: int = 50) -> int:
    """Cells "ingested" whose scene's item the catalogue now serves become "published"."""
    marked = 0
    for cell in await board.store.cells_in_state("ingested", limit):
        scene_id = cell.get("scene_id")
        scene = await board.store.scene(scene_id) if scene_id else None
        ingested = ((scene or {}).get("facts") or {}).get("ingested") or {}
        collection, item_id = ingested.get("collection"), ingested.get("item_id")
        if not (collection and item_id):
            continue
        try:
            await catalogue.item(str(collection), str(item_id))
        except PortalError as exc:
            if exc.http_status == 404:
                continue  # not indexed yet
            raise
        await board.mark_published(str(scene_id), now_iso())
        marked += 1
    return marked

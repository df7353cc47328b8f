"""The portal's composition root: its objects, built once per app from the clients the
shared service factory opened (`ServiceDefinition.bootstrap`), and the hooks that open
and close what must be awaited. Routes get the container through `PortalDep`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import jinja2
from fastapi import Depends, FastAPI, Request

from dinamis_portal.acquisitions_api import AcquisitionRequests, Drafts, HttpAcquisitionRequests, MongoDrafts
from dinamis_portal.aoi_api import AoiCatalogue, AoiStore, HttpAoiCatalogue, MongoAoiStore
from dinamis_portal.coverage.board import CoverageBoard, CoverageSettings
from dinamis_portal.coverage.store import MongoCoverageStore
from dinamis_portal.oidc import IdentityProvider, KeycloakProvider
from dinamis_portal.ops.audit import MongoOpsAudit, OpsAudit
from dinamis_portal.ops.kafka_admin import KafkaPipelineBus
from dinamis_portal.ops.notices import MongoNotices, NoticeStore
from dinamis_portal.ops.pipeline import (
    HttpNotifyStaff,
    HttpServiceProbe,
    MongoReplayClaims,
    PipelinePorts,
)
from dinamis_portal.ops.review_api import HttpReviewApi, ReviewApi, ReviewSettings
from dinamis_portal.ops_members_api import HttpOpsMembersApi, OpsMembersApi
from dinamis_portal.ordering_api import OrderingPorts, build_ordering
from dinamis_portal.organisation_api import HttpOrganisationApi, OrganisationApi
from dinamis_portal.reporting_api import HttpReportingApi, ReportingApi
from dinamis_portal.sessions import MongoSessionStore, Sessions, now
from dinamis_portal.settings import PortalSettings
from dinamis_portal.upstream import Catalogue, HttpCatalogue, HttpOrders, Orders
from dinamis_shared.periodic import BackgroundTasks, every
from dinamis_shared.service import Resources

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["now_utc"] = lambda: datetime.now(UTC)
    return env


@dataclass
class PortalContainer:
    settings: PortalSettings
    http: httpx.AsyncClient
    sessions: Sessions
    identity: IdentityProvider
    catalogue: Catalogue
    orders: Orders
    pages: jinja2.Environment
    session_store: MongoSessionStore | None = None
    organisation: OrganisationApi | None = None  # "Mon organisation": orders and notify
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    acquisitions: AcquisitionRequests | None = None
    drafts: Drafts | None = None
    aoi_catalogue: AoiCatalogue | None = None
    aoi_store: AoiStore | None = None
    ordering: OrderingPorts | None = None
    ops_audit: OpsAudit | None = None  # the operators' journal
    notices: NoticeStore | None = None  # announcement, maintenance mode
    ops_members: OpsMembersApi | None = None  # the console's memberships and quotas (orders)
    ops_review: ReviewApi | None = None  # the review queue: orders' staff review routes
    ops_review_settings: ReviewSettings | None = None
    coverage: CoverageBoard | None = None  # the yearly coverage board (/ops/couverture)
    pipeline: PipelinePorts | None = None  # the console's pipeline page: Kafka, services, replays
    reporting: ReportingApi | None = None  # "DINAMIS en chiffres", the working group's dashboard


def bootstrap(resources: Resources) -> PortalContainer:
    """Build the portal's objects (no I/O)."""
    settings = resources.settings
    if not isinstance(settings, PortalSettings):
        raise TypeError(f"portal needs PortalSettings, got {type(settings).__name__}")
    mongo = resources.require_mongo()
    store = MongoSessionStore(mongo[settings.mongo_database])
    http = httpx.AsyncClient(timeout=settings.http_timeout_s, follow_redirects=False)
    return PortalContainer(
        settings=settings,
        http=http,
        sessions=Sessions(store, settings),
        identity=KeycloakProvider(settings, http),
        catalogue=HttpCatalogue(settings.catalog_url, http, settings.preview_max_bytes),
        orders=HttpOrders(settings.orders_url, http),
        pages=templates(),
        session_store=store,
        organisation=HttpOrganisationApi(settings.orders_url, settings.notify_url, http),
        acquisitions=HttpAcquisitionRequests(settings.orders_url, http),
        drafts=MongoDrafts(mongo[settings.mongo_database]),
        aoi_catalogue=HttpAoiCatalogue(settings.catalog_url, http),
        aoi_store=MongoAoiStore(mongo[settings.mongo_database]),
        ordering=build_ordering(settings.orders_url, settings.delivery_url, settings.notify_url, http),
        ops_audit=MongoOpsAudit(mongo[settings.mongo_database]),
        notices=MongoNotices(mongo[settings.mongo_database]),
        ops_members=HttpOpsMembersApi(settings.orders_url, http),
        ops_review=HttpReviewApi(settings.orders_url, http),
        ops_review_settings=ReviewSettings(),
        coverage=CoverageBoard(MongoCoverageStore(mongo[settings.mongo_database]), CoverageSettings()),
        pipeline=pipeline_ports(settings, http, mongo[settings.mongo_database]),
        reporting=HttpReportingApi(settings.reporting_url, http),
    )


def pipeline_ports(settings: PortalSettings, http: httpx.AsyncClient, db: object) -> PipelinePorts:
    urls = {
        "ingest": settings.ingest_url,
        "catalog": settings.catalog_url,
        "orders": settings.orders_url,
        "delivery": settings.delivery_url,
        "notify": settings.notify_url,
        "reporting": settings.reporting_url,
    }
    return PipelinePorts(
        bus=KafkaPipelineBus(settings),
        probe=HttpServiceProbe(urls, http, settings.probe_timeout_s),
        claims=MongoReplayClaims(db),
        notify=HttpNotifyStaff(settings.notify_url, http, settings.probe_timeout_s),
    )


async def start(app: FastAPI, container: PortalContainer) -> None:
    # The stores' indexes. A store down at start is not fatal: indexes only speed reads,
    # and sessions are checked for expiry on every read.
    stores = (
        ("session", container.session_store),
        ("drafts", container.drafts),
        ("saved AOI", container.aoi_store),
        ("ops journal", container.ops_audit),
        ("coverage board", container.coverage.store if container.coverage else None),
    )
    for name, store in stores:
        ensure = getattr(store, "ensure_indexes", None)
        if ensure is None:
            continue
        try:
            await ensure()
        except Exception as exc:
            log.warning("%s index not created", name, extra={"error": str(exc)})
    start_coverage(container)
    sessions = container.session_store
    if sessions is None:
        return

    async def purge() -> None:
        purged = await sessions.purge_expired(now())
        if purged:
            log.info("expired portal sessions deleted", extra={"count": purged})

    # FerretDB has no TTL index: expired sessions (logins started and never finished
    # included, which any visitor can start) are deleted here, not only at each login.
    purging = every(container.settings.session_purge_s, purge, name="session purge")
    container.tasks.start(purging, "session-purge")


async def stop(app: FastAPI, container: PortalContainer) -> None:
    await container.tasks.stop()
    await container.http.aclose()
    streams = getattr(container.ordering.notifications, "http", None) if container.ordering else None
    if isinstance(streams, httpx.AsyncClient) and streams is not container.http:
        await streams.aclose()  # the live streams' own pool


def get_container(request: Request) -> PortalContainer:
    return request.app.state.container


PortalDep = Annotated[PortalContainer, Depends(get_container)]


def start_coverage(container: PortalContainer) -> None:
    """The coverage board's consumer and publication check (unless turned off)."""
    from dinamis_portal.coverage.consumer import CoverageConsumer, check_published

    board = container.coverage
    if board is None or not board.settings.coverage_consumer:
        return
    consumer = CoverageConsumer(board, container.settings)
    container.tasks.start(consumer.run(), "coverage-consumer")

    async def published() -> None:
        await check_published(board, container.catalogue)

    container.tasks.start(
        every(board.settings.coverage_publish_check_s, published, name="coverage publication check"),
        "coverage-published",
    )

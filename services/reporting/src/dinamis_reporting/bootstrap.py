"""The reporting service's composition root: the archive (writer, consumer, compaction),
the lake and the indicators, built once per app; the hooks that start and stop the
archive's consumer and compaction.

Routes get the container through the `Reporting` dependency."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from dinamis_reporting.archive.consumer import ArchiveConsumer, compaction_pass
from dinamis_reporting.archive.store import ObjectStore, S3ObjectStore
from dinamis_reporting.archive.writer import ArchiveWriter
from dinamis_reporting.indicators.engine import Indicators
from dinamis_reporting.lake import Lake
from dinamis_reporting.settings import ReportingSettings
from dinamis_shared.auth import Authenticator, authenticator_from_settings, install_authenticator
from dinamis_shared.periodic import BackgroundTasks, every
from dinamis_shared.service import Resources


@dataclass
class ReportingContainer:
    settings: ReportingSettings
    store: ObjectStore
    writer: ArchiveWriter
    consumer: ArchiveConsumer
    lake: Lake
    indicators: Indicators
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    authenticator: Authenticator | None = None
    # The `rejected/` files' record counts, by "<key>@<etag>" (GET /v1/archive).
    rejected_rows: dict[str, int] = field(default_factory=dict)
    # indicator results by (name, query, audience, lake version), least recently used first
    results: OrderedDict = field(default_factory=OrderedDict)
    computing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))


def bootstrap(resources: Resources) -> ReportingContainer:
    settings = resources.settings
    if not isinstance(settings, ReportingSettings):
        raise TypeError(f"reporting needs ReportingSettings, got {type(settings).__name__}")
    store = S3ObjectStore(resources.require_s3(), settings.events_bucket)
    writer = ArchiveWriter(store, concurrency=settings.archive_concurrency)
    lake = Lake(
        store,
        settings.lake_dir / f"lake-{settings.http_port}.duckdb",
        threads=settings.duckdb_threads,
        memory_limit=settings.duckdb_memory_limit,
    )
    indicators = Indicators(
        min_organisations=settings.min_organisations,
        grid_file=settings.coverage_grid_file,
        prices_file=settings.prices_file,
    )
    indicators.prepare(lake.con)
    return ReportingContainer(
        settings=settings,
        store=store,
        writer=writer,
        consumer=ArchiveConsumer(writer, settings),
        lake=lake,
        indicators=indicators,
    )


async def start(app: FastAPI, reporting: ReportingContainer) -> None:
    settings = reporting.settings
    reporting.authenticator = authenticator_from_settings(settings)
    install_authenticator(app, reporting.authenticator)
    # The lake follows the bucket in the background (its first load of a large archive
    # takes a while: requests do not wait for a refresh under way once it is loaded).
    reporting.tasks.start(
        every(max(settings.lake_refresh_s, 2.0), {"lake refresh": reporting.lake.refresh}), "lake"
    )
    if settings.archive_enabled:
        reporting.tasks.start(reporting.consumer.run(), "archive")
        reporting.tasks.start(
            every(
                settings.compaction_interval_s,
                {"compaction": lambda: compaction_pass(reporting.writer)},
                first_delay_s=settings.compaction_interval_s,
            ),
            "compaction",
        )


async def stop(app: FastAPI, reporting: ReportingContainer) -> None:
    reporting.consumer.stop()
    await reporting.tasks.stop()
    reporting.lake.con.close()


def container(request: Request) -> ReportingContainer:
    built = request.app.state.container
    if not isinstance(built, ReportingContainer):
        raise TypeError("the app was not bootstrapped by dinamis_reporting.bootstrap")
    return built


Reporting = Annotated[ReportingContainer, Depends(container)]

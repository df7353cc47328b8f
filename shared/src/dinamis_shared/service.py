"""One process per service replica: a FastStream Kafka broker and a FastAPI app.

`create_service_app` wires what every service has (broker, subscriptions, store
clients, /healthz /readyz /metrics, JSON logs, problem details and their place in the
OpenAPI (`problem_docs.py`), request body limits and authentication before the body
(`guard.py`), and the edge validator: no NUL, no NaN, no invalid JSON (`edge.py`));
the service's own module only declares its settings, dependencies, subscriptions and routers.

Composition: each service has one typed container (its `bootstrap.py`), built once
from the shared `Resources` by `ServiceDefinition.bootstrap`. The subscriptions
factory and the startup/shutdown hooks receive that container; routes read it from
`app.state.container` through a typed dependency of the service's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from minio import Minio
from pymongo import AsyncMongoClient
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from dinamis_shared import clients
from dinamis_shared.bus import EventHandler, EventPublisher, make_broker, subscribe
from dinamis_shared.cloudevents import trace_id_of
from dinamis_shared.edge import EdgeValidator
from dinamis_shared.events import Event
from dinamis_shared.guard import RequestGuard
from dinamis_shared.health import (
    Check,
    Dependency,
    health_router,
    install_catch_all_handler,
    install_problem_handlers,
    parse_networks,
)
from dinamis_shared.logs import configure_logging, trace_id_var
from dinamis_shared.problem_docs import install_problem_docs
from dinamis_shared.provenance import issued_events_from_settings
from dinamis_shared.settings import ServiceSettings

log = logging.getLogger(__name__)


Subscriptions = Sequence[tuple[type[Event], EventHandler]]
C = TypeVar("C")


@dataclass
class ServiceDefinition(Generic[C]):
    settings: ServiceSettings
    dependencies: tuple[Dependency, ...]
    # Builds the service's typed container once from the opened clients (no I/O: pools
    # that must be awaited are opened by an `on_startup` hook). Without it, the
    # container is the `Resources` itself.
    bootstrap: Callable[[Resources], C] | None = None
    # A list, or a factory given the container (for handlers that need clients).
    subscriptions: Subscriptions | Callable[[C], Subscriptions] = ()
    routers: Sequence[APIRouter] = ()
    title: str = ""
    # Kafka consumer options, e.g. max_poll_interval_ms for slow handlers.
    consumer_options: dict = field(default_factory=dict)
    # Build the FastAPI app from a library factory (e.g. stac-fastapi) given our lifespan.
    app_factory: Callable[[Callable], FastAPI] | None = None
    # Awaited with (app, container) once started / before stopping (pools, tasks...).
    on_startup: Sequence[Callable[[FastAPI, C], Any]] = ()
    on_shutdown: Sequence[Callable[[FastAPI, C], Any]] = ()
    # Request body limits (bytes) of the routes that need more (or less) than
    # `settings.http_max_body_bytes`, by path prefix (the longest prefix wins).
    body_limits: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.settings.SERVICE


@dataclass
class Resources:
    """The clients a service opened, by dependency; available as `app.state.resources`."""

    settings: ServiceSettings
    broker: KafkaBroker
    publisher: EventPublisher
    broker_started: asyncio.Event = field(default_factory=asyncio.Event)
    mongo: AsyncMongoClient | None = None  # when the service depends on MongoDB
    s3: Minio | None = None  # when the service depends on S3
    extra: dict = field(default_factory=dict)  # DEPRECATED: being replaced by bootstrap containers

    def require_mongo(self) -> AsyncMongoClient:
        """The MongoDB client, for a service that declared the dependency."""
        if self.mongo is None:
            raise RuntimeError(f"{self.settings.SERVICE} did not declare MongoDB among its dependencies")
        return self.mongo

    def require_s3(self) -> Minio:
        """The S3 client, for a service that declared the dependency."""
        if self.s3 is None:
            raise RuntimeError(f"{self.settings.SERVICE} did not declare S3 among its dependencies")
        return self.s3

    def checks(self, dependencies: tuple[Dependency, ...]) -> dict[str, Check]:
        s = self.settings
        timeout = s.readiness_timeout_s

        async def kafka() -> None:
            if not self.broker_started.is_set():
                raise ConnectionError("Kafka consumer not started yet")
            if not await self.broker.ping(timeout * 0.9):
                raise ConnectionError(f"no answer from {s.kafka_bootstrap_servers}")

        async def mongodb() -> None:
            assert self.mongo is not None
            await self.mongo.admin.command("ping")

        async def s3() -> None:
            assert self.s3 is not None
            await asyncio.to_thread(self.s3.bucket_exists, s.s3_readiness_bucket)

        async def postgres() -> None:
            conn = await clients.pg_connect(s, timeout_s=timeout)
            async with conn:
                await conn.execute("SELECT 1")

        async def smtp() -> None:
            reader, writer = await asyncio.open_connection(s.smtp_host, s.smtp_port)
            try:
                banner = await reader.readline()
                if not banner.startswith(b"220"):
                    raise ConnectionError(f"unexpected SMTP banner {banner[:80]!r}")
                writer.write(b"QUIT\r\n")
                await writer.drain()
            finally:
                writer.close()

        table = {
            Dependency.KAFKA: kafka,
            Dependency.MONGODB: mongodb,
            Dependency.S3: s3,
            Dependency.POSTGRES: postgres,
            Dependency.SMTP: smtp,
        }
        return {d.value: table[d] for d in dependencies}


async def _start_broker(resources: Resources) -> None:
    """Start consuming; if Kafka is not reachable yet, keep trying (not ready meanwhile)."""
    delay = 0.5
    while True:
        try:
            await resources.broker.start()
            resources.broker_started.set()
            log.info("kafka broker started")
            return
        except Exception as exc:
            log.warning("kafka not reachable yet, retrying", extra={"error": str(exc)})
            with contextlib.suppress(Exception):
                await resources.broker.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


class TraceContext:
    """The request's trace id (W3C `traceparent`) in the logs' context while it is served.
    Plain ASGI: Starlette's `BaseHTTPMiddleware` would run every request in a task of its
    own and stream the answer through a queue."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traceparent = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"traceparent"), None)
        token = trace_id_var.set(trace_id_of(traceparent))
        try:
            await self.app(scope, receive, send)
        finally:
            trace_id_var.reset(token)


def add_checked_middleware(app: FastAPI, cls: Any, **options: Any) -> None:
    """Add a service's own request middleware inside the platform's: after the body-size
    guard (bodies are bounded and authenticated first) and the edge validator (NUL,
    NaN/Infinity and malformed JSON get its one answer), before the routes."""
    edge = next(i for i, m in enumerate(app.user_middleware) if m.cls is EdgeValidator)
    app.user_middleware.insert(edge + 1, Middleware(cls, **options))


def create_service_app(definition: ServiceDefinition[Any]) -> FastAPI:
    settings = definition.settings
    broker = make_broker(settings)
    resources = Resources(
        settings=settings, broker=broker, publisher=EventPublisher(broker, f"/dinamis/{settings.SERVICE}")
    )
    deps = definition.dependencies
    if Dependency.MONGODB in deps:
        resources.mongo = clients.mongo_client(settings, timeout_s=settings.readiness_timeout_s)
    if Dependency.S3 in deps:
        resources.s3 = clients.s3_client(settings, timeout_s=settings.readiness_timeout_s, retries=0)
    container: Any = definition.bootstrap(resources) if definition.bootstrap else resources
    subscriptions = definition.subscriptions
    if callable(subscriptions):
        subscriptions = subscriptions(container)
    issued = None
    if subscriptions:
        handlers = dict(subscriptions)
        issued = issued_events_from_settings(settings, handlers)
        subscribe(broker, settings.SERVICE, handlers, issued=issued, **definition.consumer_options)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in definition.on_startup:
            await hook(app, container)
        # A process that neither consumes nor publishes (the tiler) never logs in to Kafka:
        # its principal has no right there, and none is needed.
        starter = asyncio.create_task(_start_broker(resources)) if Dependency.KAFKA in deps else None
        log.info("service starting", extra={"dependencies": [d.value for d in deps]})
        try:
            yield
        finally:
            for hook in definition.on_shutdown:
                with contextlib.suppress(Exception):
                    await hook(app, container)
            if starter is not None:
                starter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starter
                await broker.stop()
            if resources.mongo is not None:
                await resources.mongo.close()
            if issued is not None:
                await issued.aclose()

    if definition.app_factory is not None:
        app = definition.app_factory(lifespan)
    else:
        app = FastAPI(
            title=definition.title or f"DINAMIS {settings.SERVICE}", version="0.1.0", lifespan=lifespan
        )
    app.state.resources = resources
    app.state.container = container
    if definition.app_factory is None:  # a library app (stac-fastapi) keeps its own error format
        install_problem_handlers(app)
    else:  # ...but never shows an unexpected exception's text either
        install_catch_all_handler(app)
    install_problem_docs(app, own_errors=definition.app_factory is None)
    app.include_router(
        health_router(
            resources.checks(deps),
            settings.readiness_timeout_s,
            parse_networks(settings.readyz_details_networks),
        )
    )
    for router in definition.routers:
        app.include_router(router)

    app.add_middleware(TraceContext)
    # No NUL, no NaN, no invalid JSON (edge.py): inside the guard, so that a body is
    # read (and checked) only once the caller is authenticated, within the size limit.
    app.add_middleware(EdgeValidator)
    # Outermost of ours: body size limits, and authentication before the body (guard.py).
    app.add_middleware(
        RequestGuard,
        service_app=app,
        max_body_bytes=settings.http_max_body_bytes,
        body_limits=definition.body_limits,
    )
    return app


def run(factory: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    """Console-script entry: JSON logs, then serve the app with uvicorn."""
    configure_logging(settings.SERVICE, settings.log_level)
    uvicorn.run(
        factory(),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )

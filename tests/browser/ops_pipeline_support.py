"""The pipeline section's browser test needs the portal to know every service's address
(the health table asks each one's /readyz): the same services as `portal_stack`, with the
ingest and notify addresses given to the portal too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dinamis_testkit.testing import running_services
from tests.browser.portal_stack import ensure_portal_client
from tests.ports import free_ports


@dataclass(frozen=True)
class PipelineStack:
    portal: str
    catalog: str
    orders: str
    ingest: str
    delivery: str
    notify: str


@contextlib.contextmanager
def pipeline_stack(logs: Path, keyfile: Path) -> Iterator[PipelineStack]:
    catalog, orders, ingest, delivery, notify, portal = free_ports(6)
    urls = PipelineStack(
        *(f"http://127.0.0.1:{p}" for p in (portal, catalog, orders, ingest, delivery, notify))
    )
    ensure_portal_client()
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": urls.orders,
        "DINAMIS_CATALOG_PUBLIC_URL": urls.catalog,
        "DINAMIS_ORDERS_CATALOG_URL": urls.catalog,
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_ORDERS_DELIVERY_URL": urls.delivery,
        "DINAMIS_DELIVERY_WORK_DIR": str(logs / "delivery-work"),
        "DINAMIS_PORTAL_CATALOG_URL": urls.catalog,
        "DINAMIS_PORTAL_PUBLIC_URL": urls.portal,
        "DINAMIS_PORTAL_INGEST_URL": urls.ingest,
        "DINAMIS_PORTAL_DELIVERY_URL": urls.delivery,
        "DINAMIS_PORTAL_NOTIFY_URL": urls.notify,
    }
    services = (
        ("orders", orders),
        ("catalog", catalog),
        ("ingest", ingest),
        ("delivery", delivery),
        ("notify", notify),
        ("portal", portal),
    )
    with running_services(services, logs, env):
        yield urls

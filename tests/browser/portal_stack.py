"""The portal on the real stack, for tests/integration/test_portal.py and the browser
tests: orders, catalog, ingest and the portal started from this checkout on free ports
(against the test stack's Kafka, FerretDB, PostgreSQL, S3 and Keycloak), the realm's
`dinamis-portal` client in place, a scene over Lyon ingested for real, and a Keycloak
user who is a member of an organisation in the orders service's records."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dinamis_testkit.testing import running_services
from tests.integration.identity import PASSWORD, new_user, realm_admin
from tests.integration.orders_api import seed_member, uid
from tests.integration.scenes import ingest_scene
from tests.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / ".artifacts" / "screenshots" / "portal"
AXE = ROOT / "services" / "portal" / "frontend" / "node_modules" / "axe-core"

# West, south, east, north: Lyon and its surroundings.
LYON = (4.75, 45.70, 4.95, 45.82)
LYON_TEXT = "4.75,45.70,4.95,45.82"
# Far from Lyon (Brest).
BREST_TEXT = "-4.60,48.35,-4.40,48.45"


@dataclass(frozen=True)
class PortalStack:
    portal: str
    catalog: str
    orders: str


@contextlib.contextmanager
def portal_stack(logs: Path, keyfile: Path) -> Iterator[PortalStack]:
    catalog, orders, ingest, portal = free_ports(4)
    urls = PortalStack(
        portal=f"http://127.0.0.1:{portal}",
        catalog=f"http://127.0.0.1:{catalog}",
        orders=f"http://127.0.0.1:{orders}",
    )
    ensure_portal_client()
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": urls.orders,
        "DINAMIS_CATALOG_PUBLIC_URL": urls.catalog,
        "DINAMIS_ORDERS_CATALOG_URL": urls.catalog,
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_PORTAL_CATALOG_URL": urls.catalog,
        "DINAMIS_PORTAL_PUBLIC_URL": urls.portal,
        # expired sessions deleted every second (300 s by default)
        "DINAMIS_PORTAL_SESSION_PURGE_S": "1",
    }
    services = (("orders", orders), ("catalog", catalog), ("ingest", ingest), ("portal", portal))
    with running_services(services, logs, env):
        yield urls


def ensure_portal_client() -> None:
    """The realm's `dinamis-portal` client, which `stack up` creates (deploy/local/keycloak.py):
    on a test stack started before the client existed, the realm tool (idempotent) adds it."""
    with realm_admin.admin_client() as admin:
        found = admin.get(f"/{realm_admin.REALM}/clients", params={"clientId": realm_admin.PORTAL_CLIENT})
        found.raise_for_status()
    if not found.json():
        realm_admin.ensure_realm()


async def lyon_scene(settings, stack: PortalStack, tmp: Path, day: int = 3) -> dict:
    """A real Pléiades Neo scene over Lyon, archived by ingest and indexed by the catalog."""
    return await ingest_scene(
        settings, stack.catalog, tmp, 4.85, 45.76, datetime(2026, 6, day, 10, 30, tzinfo=UTC)
    )


def member() -> tuple[str, str, str]:
    """A Keycloak user (verified, with a password) who is an active member of a new
    organisation in the orders service's records: (sub, e-mail, password)."""
    sub, email = new_user("portail")
    seed_member(uid("org"), sub)
    return sub, email, PASSWORD


def stranger() -> tuple[str, str, str]:
    """A Keycloak user the orders service does not know (no organisation)."""
    sub, email = new_user(f"inconnu-{uuid.uuid4().hex[:4]}")
    return sub, email, PASSWORD

"""What the tests of "DINAMIS en chiffres" and the working group's dashboard need: the
orders service, the real reporting service (its archive consuming the test stack's Kafka
into the test stack's S3) and the portal pointed at both; a scripted set of events
published on the real bus in a far-future year; a governance user (the platform's own
organisation, role `governance`, as the orders service's records hold it)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from dinamis_shared import cloudevents
from dinamis_shared.events import Event, OrganisationChangedV1
from dinamis_shared.settings import ServiceSettings
from dinamis_shared.topics import topic_for
from dinamis_testkit.testing import running_services
from tests.browser.portal_stack import ensure_portal_client
from tests.integration.identity import PASSWORD, new_user
from tests.integration.orders_api import ensure_staff
from tests.ports import free_ports

# Long past (the portal offers 2000 to 2100): organisations are counted as a stock (every
# member organisation in each year from its approval on), so a year before every other
# test's events holds only these; other tests' flows use far-future years.
YEAR = 2001
# Organisations approved in YEAR, by category: 5, 4, 3 and 1. By category, the lone
# private R&D organisation is suppressed (fewer than 3), and with it the smallest other
# cell (international research, 3: complementary suppression); public bodies (5) and
# French research (4) are shown. Ids are fixed: a rerun on a kept stack adds nothing.
SCENARIO = {"french-public": 5, "french-research": 4, "international-research": 3, "french-private-rd": 1}


@dataclass(frozen=True)
class FiguresStack:
    portal: str
    orders: str
    reporting: str


@contextlib.contextmanager
def figures_stack(logs: Path, keyfile: Path) -> Iterator[FiguresStack]:
    orders, reporting, portal = free_ports(3)
    urls = FiguresStack(
        portal=f"http://127.0.0.1:{portal}",
        orders=f"http://127.0.0.1:{orders}",
        reporting=f"http://127.0.0.1:{reporting}",
    )
    ensure_portal_client()
    env = {
        "DINAMIS_AUTH_LOCAL_KEY_FILE": str(keyfile),
        "DINAMIS_ORDERS_URL": urls.orders,
        "DINAMIS_ORDERS_SUPPLIER_URL": "",
        "DINAMIS_PORTAL_PUBLIC_URL": urls.portal,
        "DINAMIS_PORTAL_REPORTING_URL": urls.reporting,
        "DINAMIS_REPORTING_LAKE_DIR": str(logs / "lake"),
        "DINAMIS_REPORTING_LAKE_REFRESH_S": "1",
        "DINAMIS_REPORTING_ARCHIVE_BATCH_S": "0.5",
        "DINAMIS_PORTAL_SESSION_PURGE_S": "1",
    }
    services = (("orders", orders), ("reporting", reporting), ("portal", portal))
    with running_services(services, logs, env):
        yield urls


def scenario_events() -> list[Event]:
    at = datetime(YEAR, 3, 2, 9, 0, tzinfo=UTC)
    events: list[Event] = []
    for category, count in SCENARIO.items():
        for n in range(count):
            events.append(
                OrganisationChangedV1(
                    organisation_id=f"chiffres-{YEAR}-{category}-{n}",
                    revision=1,
                    name=f"Organisation {category} {n}",
                    category=category,
                    status="active",
                    department="69",
                    changed_by="tests-figures",
                    changed_at=at,
                )
            )
    return events


async def publish(settings: ServiceSettings, events: list[Event]) -> None:
    """The events as the services publish them (CloudEvents, binary mode) on the real bus."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth())
    await producer.start()
    try:
        sent = []
        for event in events:
            record = cloudevents.encode(event, source="/tests/figures")
            headers = [(k, v.encode()) for k, v in record.headers.items()]
            sent.append(
                await producer.send(
                    topic_for(type(event)).name, value=record.value, key=record.key, headers=headers
                )
            )
        for done in sent:
            await done
    finally:
        await producer.stop()


def wait_for_archive(reporting: str, expected_rows: int, timeout_s: float = 120) -> dict:
    """The reporting's public answer for organisations by category in YEAR, once the
    archive holds the scenario (polled: the consumer writes in batches)."""
    deadline = time.monotonic() + timeout_s
    answer: dict = {}
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{reporting}/v1/indicators/members_organisations",
            params={"by": "category", "year": str(YEAR)},
            timeout=120,  # a fresh reporting loads the whole bucket first (other tests' files)
        )
        if response.status_code == 200:
            answer = response.json()
            if len(answer.get("rows") or []) >= expected_rows:
                return answer
        time.sleep(1)
    raise AssertionError(f"the archive did not reach {expected_rows} rows in {timeout_s} s: {answer}")


def governance_user() -> tuple[str, str, str]:
    """A Keycloak user of the platform's own organisation with the `governance` role only
    (not staff): (sub, e-mail, password)."""
    sub, email = new_user("gouvernance")
    ensure_staff(sub, ["governance"])
    return sub, email, PASSWORD

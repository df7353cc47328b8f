"""Notify against the real stack: events published on Kafka, the `dinamis-notify`
process consuming them (group `notify`), e-mails read back from the SMTP sink's
Maildir, webhooks received by an HTTP server of this test, the live stream read
over HTTP, state in FerretDB (a database of this test run).

Waiting: a test waits until the `notify` group has committed past the records it
published (the handler returned), then asserts on what arrived — so "nobody else
was told" is checked after the fact, not after a sleep.
"""

from __future__ import annotations

import asyncio
import email
import hashlib
import hmac
import itertools
import json
import mailbox
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from dinamis_shared import clients, cloudevents
from dinamis_shared.auth import ensure_local_signing_key, mint_token
from dinamis_shared.events import (
    Event,
    OrganisationChangedV1,
    ProductFailedV1,
    ProductReadyV1,
    RequestApprovedV1,
    RequestRejectedV1,
    RequestSubmittedV1,
    RequestUpdatedV1,
    SceneIngestedV1,
    SceneRejectedV1,
    UserChangedV1,
)
from dinamis_testkit.examples import example_events
from dinamis_testkit.testing import start_service, stop_service
from tests.integration.orders_api import ensure_staff, seed_member
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PORT = free_port()
ORDERS_PORT = 18509
API = f"http://127.0.0.1:{PORT}"
HOOK_PORT = free_port()
WEB = "https://dinamis.test/app"
GROUP = "notify"
EXAMPLES = {type(e): e for e in example_events()}
MAILDIR = Path(os.environ.get("DINAMIS_STACK_DIR", ROOT / ".stack")) / "mail"


def example(model: type[Event], **changes) -> Event:
    return model.model_validate({**EXAMPLES[model].model_dump(mode="json"), **changes})


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- the service, Kafka, Mongo --------------------------------------------------------


class Notify:
    def __init__(self, tmp: Path, database: str) -> None:
        self.tmp = tmp
        self.key_file = tmp / "signing-key.pem"
        self.key = ensure_local_signing_key(self.key_file)
        self.database = database
        self.proc = None

    def env(self) -> dict[str, str]:
        return {
            "DINAMIS_AUTH_LOCAL_KEY_FILE": str(self.key_file),
            "DINAMIS_ORDERS_URL": f"http://127.0.0.1:{ORDERS_PORT}",
            "DINAMIS_NOTIFY_MONGO_DATABASE": self.database,
            "DINAMIS_NOTIFY_PUBLIC_WEB_URL": WEB,
            "DINAMIS_NOTIFY_DIGEST_INTERVAL_S": "2",
            "DINAMIS_NOTIFY_SSE_HEARTBEAT_S": "1",
            "DINAMIS_NOTIFY_WEBHOOK_BACKOFF_BASE_S": "0.3",
            "DINAMIS_NOTIFY_WEBHOOK_MAX_ATTEMPTS": "3",
            "DINAMIS_NOTIFY_WEBHOOK_POLL_S": "0.2",
            "DINAMIS_NOTIFY_SSE_MAX_PER_USER": "2000",  # the 1,000-client test uses a few users
            # These tests play the orders service (they publish its events themselves), so
            # notify does not ask orders whether it issued them (test_provenance.py does).
            "DINAMIS_NOTIFY_VERIFY_EVENT_ISSUER": "false",
        }

    def start(self) -> None:
        self.proc = start_service("notify", PORT, self.tmp, env=self.env())

    def stop(self) -> None:
        stop_service(self.proc)

    def token(self, user_id: str, org: str, roles: list[str], *, registered: bool = True) -> dict[str, str]:
        """A token for `user_id`; unless `registered=False`, the orders service's records
        make them what the test means (staff account, or user of an active organisation):
        the token itself only says who."""
        if registered and {"operator", "admin"} & set(roles):
            ensure_staff(user_id, [r for r in roles if r in ("operator", "admin")])
        elif registered:
            seed_member(org, user_id, roles)
        return {
            "Authorization": "Bearer "
            + mint_token(self.key, user_id=user_id, organisation_id=org, roles=roles)
        }


@pytest.fixture(scope="module")
def notify(tmp_path_factory, settings):
    service = Notify(tmp_path_factory.mktemp("notify"), f"notify_test_{uuid.uuid4().hex[:8]}")
    # The authority on who may do what: notify asks it about every caller.
    orders = start_service(
        "orders",
        ORDERS_PORT,
        service.tmp,
        env={"DINAMIS_AUTH_LOCAL_KEY_FILE": str(service.key_file), "DINAMIS_ORDERS_SUPPLIER_URL": ""},
    )
    service.start()
    yield service
    service.stop()
    stop_service(orders)
    client = clients.mongo_client(settings)
    asyncio.run(client.drop_database(service.database))


@pytest.fixture(scope="module")
async def kafka(settings):
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth(), acks="all"
    )
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture(scope="module")
async def db(settings, notify):
    client = clients.mongo_client(settings)
    yield client[notify.database]
    await client.close()


async def publish(producer: AIOKafkaProducer, event: Event, event_id: str | None = None):
    record = cloudevents.encode(event, source="/dinamis/tests", event_id=event_id or str(uuid.uuid4()))
    meta = await producer.send_and_wait(
        record.topic,
        record.value,
        key=record.key,
        headers=[(k, v.encode()) for k, v in record.headers.items()],
    )
    return record, meta


async def consumed(settings, metas, timeout_s: float = 150) -> None:
    """Wait until group `notify` has committed past every published record."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_auth())
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            committed = await admin.list_consumer_group_offsets(GROUP)
            if all(
                (c := committed.get(TopicPartition(m.topic, m.partition))) is not None and c.offset > m.offset
                for m in metas
            ):
                return
            assert time.monotonic() < deadline, "notify did not consume the test's events in time"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def add_user(
    producer, *, org: str, roles: list[str], language: str = "fr", user_id: str | None = None
) -> dict:
    user_id = user_id or uid("u")
    event = UserChangedV1(
        user_id=user_id,
        revision=1,
        organisation_id=org,
        email=f"{user_id}@test.dinamis.example",
        display_name=f"Test {user_id}",
        language=language,
        roles=roles,
        active=True,
        changed_by="tests",
        changed_at=datetime.now(UTC),
    )
    _, meta = await publish(producer, event)
    return {"id": user_id, "email": event.email, "org": org, "meta": meta}


# --- mail --------------------------------------------------------------------------


def mails_to(address: str) -> list:
    box = mailbox.Maildir(MAILDIR, factory=lambda f: email.message_from_binary_file(f, policy=policy.default))
    return [m for m in box if address in (m["To"] or "")]


def subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def wait_mails(address: str, count: int, timeout_s: float = 30) -> list:
    deadline = time.monotonic() + timeout_s
    while len(found := mails_to(address)) < count:
        assert time.monotonic() < deadline, f"{address}: {len(found)} mails, expected {count}"
        time.sleep(0.2)
    return found


def body(message, subtype: str) -> str:
    return message.get_body((subtype,)).get_content()


# --- the tests -----------------------------------------------------------------------


async def test_each_event_kind_reaches_the_right_people_by_the_right_channels(notify, kafka, settings, db):
    org, other_org = uid("org"), uid("org")
    member = await add_user(kafka, org=org, roles=["member"])
    member_en = await add_user(kafka, org=org, roles=["member"], language="en")
    referent = await add_user(kafka, org=org, roles=["referent", "member"])
    outsider = await add_user(kafka, org=other_org, roles=["member", "referent"])
    operator = await add_user(kafka, org="dinamis", roles=["operator"])
    digest_id = uid("u")
    async with httpx.AsyncClient(base_url=API) as http:
        # Chosen before the account reaches the directory: other events on the shared bus
        # (other tests) must not reach this operator by immediate e-mail either.
        headers = notify.token(digest_id, "dinamis", ["operator"])
        answer = await http.put("/v1/preferences", json={"digest": True}, headers=headers)
        assert answer.status_code == 200 and answer.json()["digest"] is True
        assert answer.json()["email"]["review-queue"] is True
    digest_op = await add_user(kafka, org="dinamis", roles=["operator"], language="en", user_id=digest_id)
    people = [member, member_en, referent, outsider, operator, digest_op]
    await consumed(settings, [p["meta"] for p in people])

    async with httpx.AsyncClient(base_url=API) as http:
        bad = await http.put("/v1/preferences", json={"email": {"no-such-kind": True}}, headers=headers)
        assert bad.status_code == 422 and bad.json()["code"] == "invalid-request"
        mine = await http.get("/v1/preferences", headers=notify.token(member["id"], org, ["member"]))
        assert "review-queue" not in mine.json()["email"]  # operations kinds are not a member's
        assert (await http.get("/v1/preferences")).status_code == 401

    now = datetime.now(UTC)
    req, req_en = uid("REQ"), uid("REQ")
    submitted = example(RequestSubmittedV1, request_id=req, organisation_id=org, submitted_by=member["id"])
    submitted_en = example(
        RequestSubmittedV1, request_id=req_en, organisation_id=org, submitted_by=member_en["id"]
    )
    metas = [(await publish(kafka, e))[1] for e in (submitted, submitted_en)]
    await consumed(settings, metas)  # notify now knows who submitted them
    order = uid("ORD")
    events = [
        example(RequestApprovedV1, request_id=req, organisation_id=org, approved_by=operator["id"]),
        RequestUpdatedV1(
            request_id=req,
            organisation_id=org,
            submitted_by=member["id"],
            status="approved",
            previous_status="under_review",
            changed_by=operator["id"],
            changed_at=now,
        ),
        example(RequestRejectedV1, request_id=req_en, organisation_id=org, reason="Zone <hors> périmètre"),
        example(
            ProductReadyV1, order_id=order, product_id=uid("P"), organisation_id=org, user_id=member_en["id"]
        ),
        example(
            ProductFailedV1, order_id=order, product_id=uid("P"), organisation_id=org, user_id=member["id"]
        ),
        example(SceneRejectedV1, scene_id=uid("SCENE")),
        example(SceneIngestedV1),
        example(
            OrganisationChangedV1,
            organisation_id=org,
            revision=1,
            status="suspended",
            reason="Charte expirée",
        ),
    ]
    records = [await publish(kafka, e) for e in events]
    await consumed(settings, [m for _, m in records])
    # The same events again (a producer retry, an outbox relay): nothing more is sent.
    again = [
        await publish(kafka, e, event_id=r.headers["ce_id"])
        for e, (r, _) in zip(events, records, strict=True)
    ]
    await consumed(settings, [m for _, m in again])

    mine = {req, req_en, events[4].product_id, events[5].scene_id}
    expected = {
        member["email"]: {
            f"Votre demande {req} est acceptée",
            f"Le produit {events[4].product_id} n'a pas pu être préparé",
        },
        member_en["email"]: {
            f"Your request {req_en} is refused",
            f"Your product {events[3].product_id} is ready",
        },
        referent["email"]: {f"Adhésion de {events[7].name} : suspendue"},
        operator["email"]: {
            f"[DINAMIS] Demande à examiner : {req}",
            f"[DINAMIS] Demande à examiner : {req_en}",
            f"[DINAMIS] Échec de production : {events[4].product_id}",
            f"[DINAMIS] Livraison refusée : {events[5].scene_id}",
        },
        outsider["email"]: set(),
    }
    for address, subjects in expected.items():
        got = [subject(m) for m in wait_mails(address, len(subjects))]
        if address == operator["email"]:  # operators also hear of other tests' events on the shared bus
            got = [g for g in got if any(i in g for i in mine)]
        assert sorted(got) == sorted(subjects), address  # exactly these, each once

    # The digest operator got no immediate mail, and digests listing each of the four items once.
    items = [f"{WEB}/operations/demandes/{req}", f"{WEB}/operations/demandes/{req_en}"]
    items += [f"{WEB}/operations/commandes/{order}", f"{WEB}/operations/livraisons/{events[5].scene_id}"]

    def digested() -> str:
        mails = mails_to(digest_op["email"])
        assert all(subject(m).endswith("operations notification(s)") for m in mails)
        return "".join(body(m, "plain") for m in mails)

    deadline = time.monotonic() + 20
    while not all(i in digested() for i in items):
        assert time.monotonic() < deadline, "digest not received"
        time.sleep(0.2)
    assert all(digested().count(i + "\n") == 1 for i in items)
    assert f"Delivery rejected: {events[5].scene_id}" in digested()  # in the operator's language

    # French and English e-mails: both parts, greeting, link to the web page.
    (approved,) = [m for m in mails_to(member["email"]) if "acceptée" in subject(m)]
    assert "Bonjour Test " in body(approved, "plain") and f"{WEB}/demandes/{req}" in body(approved, "plain")
    assert f'href="{WEB}/demandes/{req}"' in body(approved, "html")
    (refused,) = [m for m in mails_to(member_en["email"]) if "refused" in subject(m)]
    assert "Hello Test " in body(refused, "plain") and "Reason: Zone <hors> périmètre" in body(
        refused, "plain"
    )
    assert "Zone &lt;hors&gt; périmètre" in body(refused, "html")

    # The history: one document per recipient and channel, with its outcome.
    async with httpx.AsyncClient(base_url=API) as http:
        history = await http.get("/v1/notifications", headers=notify.token(member["id"], org, ["member"]))
    statuses = sorted((n["kind"], n["status"]) for n in history.json()["notifications"])
    assert statuses == [
        ("product-failed", "sent"),
        ("request-approved", "sent"),
        ("request-received", "off"),
    ]
    assert await db.notify_history.count_documents({"recipient": outsider["id"]}) == 0


async def test_live_stream_resumes_after_a_disconnect_without_loss_or_duplicates(notify, kafka, settings):
    org = uid("org")
    headers = notify.token(uid("viewer"), org, ["member"])

    def product(i: int) -> ProductReadyV1:  # one order: one partition, so a known order
        return example(
            ProductReadyV1, order_id=f"ORD-{org}", product_id=f"P{i}", organisation_id=org, user_id=None
        )

    async def read_events(lines, count: int) -> list[dict]:
        out: list[dict] = []
        entry: dict = {}
        async for line in lines:
            if line.startswith("id: "):
                entry["id"] = int(line[4:])
            elif line.startswith("data: "):
                entry["data"] = json.loads(line[6:])
            elif line == "" and entry:
                out.append(entry)
                entry = {}
                if len(out) == count:
                    return out
        raise AssertionError("stream ended early")

    ce_ids: list[str] = []
    async with httpx.AsyncClient(base_url=API, timeout=30) as http:
        async with http.stream("GET", "/events/stream", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            assert await anext(lines) == "retry: 3000"  # registered: nothing published from now on is missed
            for i in range(3):
                ce_ids.append((await publish(kafka, product(i)))[0].headers["ce_id"])
            # Another organisation's event is never shown.
            await publish(kafka, example(ProductReadyV1, order_id=uid("ORD"), organisation_id=uid("org")))
            first = await read_events(lines, 2)
        last_id = first[-1]["id"]
        for i in range(3, 6):  # published while the client is away
            ce_ids.append((await publish(kafka, product(i)))[0].headers["ce_id"])
        resume = {**headers, "Last-Event-ID": str(last_id)}
        async with http.stream("GET", "/events/stream", headers=resume) as response:
            lines = response.aiter_lines()
            rest = await read_events(lines, 4)
            heartbeat = None
            async for line in lines:  # nothing else comes: a heartbeat comment
                heartbeat = line
                if line.startswith(":"):
                    break
            assert heartbeat == ": heartbeat"
        bad = await http.get("/events/stream", headers={**headers, "Last-Event-ID": "yesterday"})
        assert bad.status_code == 400 and bad.json()["code"] == "bad-last-event-id"
        assert (await http.get("/events/stream")).status_code == 401
    seen = [e["data"]["id"] for e in first + rest]
    assert seen == ce_ids  # in order, none lost, none twice
    ids = [e["id"] for e in first + rest]
    assert ids == sorted(set(ids))
    assert all(e["data"]["feed"] == f"org:{org}" for e in first + rest)


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver written from docs/api.md only (no DINAMIS code)."""

    secrets: ClassVar[dict[str, str]] = {}
    received: ClassVar[list[dict]] = []
    failing: ClassVar[set[str]] = set()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        name = self.path.strip("/")
        timestamp = self.headers["X-Dinamis-Timestamp"]
        signed = timestamp.encode() + b"." + body
        expected = "sha256=" + hmac.new(self.secrets[name].encode(), signed, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, self.headers["X-Dinamis-Signature"])
        fresh = abs(time.time() - int(timestamp)) <= 300
        self.received.append(
            {"name": name, "valid": valid and fresh, "event": json.loads(body), "headers": dict(self.headers)}
        )
        self.send_response(500 if name in self.failing else (204 if valid and fresh else 401))
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", HOOK_PORT), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver
    server.shutdown()


async def wait_for(check, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while not (result := await check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)
    return result


async def test_webhooks_signed_retried_dead_lettered(notify, kafka, settings, receiver):
    org = uid("org")
    developer = await add_user(kafka, org=org, roles=["member", "referent"])
    outsider = uid("dev")  # a valid token, but unknown to the directory (never added by orders)
    await consumed(settings, [developer["meta"]])
    owner = notify.token(developer["id"], org, ["member", "referent"])
    async with httpx.AsyncClient(base_url=API, timeout=30) as http:

        async def register(name: str, **extra) -> dict:
            answer = await http.post(
                "/v1/webhooks", json={"url": f"http://127.0.0.1:{HOOK_PORT}/{name}", **extra}, headers=owner
            )
            assert answer.status_code == 201, answer.text
            receiver.secrets[name] = answer.json()["secret"]
            return answer.json()

        good = await register(uid("good"), event_types=["product-ready"])
        bad = await register(uid("bad"))
        receiver.failing.add(bad["url"].rsplit("/", 1)[1])
        refused = await http.post("/v1/webhooks", json={"url": "ftp://example.org/x"}, headers=owner)
        assert refused.status_code == 422 and refused.json()["code"] == "webhook-target-refused"
        unknown = await http.post(
            "/v1/webhooks",
            json={"url": f"http://127.0.0.1:{HOOK_PORT}/x"},
            headers=notify.token(outsider, org, ["member"], registered=False),
        )
        assert unknown.status_code == 403, unknown.text
        ops = await http.post(
            "/v1/webhooks",
            json={"url": f"http://127.0.0.1:{HOOK_PORT}/x", "feed": "operations"},
            headers=owner,
        )
        assert ops.status_code == 403
        listed = (await http.get("/v1/webhooks", headers=owner)).json()["webhooks"]
        assert {w["id"] for w in listed} == {good["id"], bad["id"]} and all("secret" not in w for w in listed)
        stranger = notify.token(uid("x"), org, ["member"])
        assert (await http.get(f"/v1/webhooks/{good['id']}/deliveries", headers=stranger)).status_code == 404

        ready, _ = await publish(kafka, example(ProductReadyV1, order_id=uid("ORD"), organisation_id=org))
        failed, _ = await publish(
            kafka, example(ProductFailedV1, order_id=uid("ORD"), organisation_id=org, user_id=None)
        )
        good_name = good["url"].rsplit("/", 1)[1]
        bad_name = bad["url"].rsplit("/", 1)[1]

        def hits(name: str) -> list[dict]:
            return [r for r in receiver.received if r["name"] == name]

        async def good_got_it():
            return hits(good_name)

        (hit,) = await wait_for(good_got_it)
        assert hit["valid"], "signature verified by a receiver written from the docs"
        assert (
            hit["event"]["id"] == ready.headers["ce_id"] and hit["event"]["type"] == ready.headers["ce_type"]
        )
        assert hit["event"]["data"]["organisation_id"] == org
        assert hit["headers"]["Content-Type"].startswith("application/cloudevents+json")

        async def settled():
            answer = await http.get(f"/v1/webhooks/{bad['id']}/deliveries", headers=owner)
            deliveries = answer.json()["deliveries"]
            statuses = [d["status"] for d in deliveries]
            done = (
                len(statuses) == 2
                and set(statuses) <= {"dead-lettered", "held"}
                and "dead-lettered" in statuses
            )
            return done and deliveries

        # The first delivery to exhaust its attempts marks the endpoint failing; a delivery
        # still waiting for its retry is then held rather than attempted.
        deliveries = await wait_for(settled)
        assert {d["event_id"] for d in deliveries} == {ready.headers["ce_id"], failed.headers["ce_id"]}
        dead = [d for d in deliveries if d["status"] == "dead-lettered"]
        for delivery in dead:
            log = delivery["attempt_log"]
            assert [a["attempt"] for a in log] == [1, 2, 3]
            assert all(a["outcome"] == "failed" and a["status_code"] == 500 for a in log)
            started = [datetime.fromisoformat(a["started_at"]) for a in log]
            gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(started)]
            # base 0.3 s: 0.15-0.3 s, then 0.3-0.6 s (jitter), plus polling and the request
            assert 0.15 <= gaps[0] < 1.5 and 0.3 <= gaps[1] < 2.5, gaps
        attempts = sum(len(d["attempt_log"]) for d in deliveries)
        assert all(h["valid"] for h in hits(bad_name)) and len(hits(bad_name)) == attempts
        endpoint = (await http.get(f"/v1/webhooks/{bad['id']}", headers=owner)).json()
        assert endpoint["status"] == "failing"

        # Staff (as orders' records say) list every organisation's failing endpoints;
        # the endpoint's owner, a member, may not.
        staff = notify.token(uid("op"), "dinamis", ["operator"])
        answer = await http.get("/v1/staff/webhooks/failing", headers=staff)
        assert answer.status_code == 200, answer.text
        found = {w["id"]: w for w in answer.json()["webhooks"]}
        assert bad["id"] in found and good["id"] not in found
        assert found[bad["id"]]["organisation_id"] == org and found[bad["id"]]["last_error"] == "HTTP 500"
        assert all("secret" not in w for w in found.values())
        refused = await http.get("/v1/staff/webhooks/failing", headers=owner)
        assert refused.status_code == 403, refused.text

        # While failing, new deliveries are held; reactivated, they go out.
        third, _ = await publish(kafka, example(ProductReadyV1, order_id=uid("ORD"), organisation_id=org))

        async def held():
            answer = await http.get(f"/v1/webhooks/{bad['id']}/deliveries?status=held", headers=owner)
            ids = {d["event_id"] for d in answer.json()["deliveries"]}
            return third.headers["ce_id"] in ids and ids

        held_ids = await wait_for(held)
        assert len(hits(bad_name)) == attempts  # nothing attempted while failing
        receiver.failing.discard(bad_name)
        answer = await http.post(f"/v1/webhooks/{bad['id']}/reactivate", headers=owner)
        assert answer.json()["status"] == "active"

        async def delivered():
            late = [h for h in hits(bad_name) if h["event"]["id"] in held_ids and h["valid"]]
            return len(late) == len(held_ids) and late

        await wait_for(delivered)
        # The filtered endpoint never got the product-failed event.
        assert [h["event"]["type"] for h in hits(good_name)] == [ready.headers["ce_type"]] * len(
            hits(good_name)
        )
        assert (await http.delete(f"/v1/webhooks/{bad['id']}", headers=owner)).status_code == 204


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_a_thousand_live_clients_with_bounded_memory(notify, kafka, settings):
    org = uid("org")
    token = notify.token(uid("viewer"), org, ["member"])["Authorization"]
    request = (
        f"GET /events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    before = rss_kb(notify.proc.pid)
    connections = []

    async def connect():
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT, limit=1 << 16)
        writer.write(request)
        await writer.drain()
        await reader.readuntil(b"retry: 3000\n\n")  # headers and the stream's first line
        connections.append((reader, writer))

    for _ in range(10):
        await asyncio.gather(*(connect() for _ in range(100)))
    held = rss_kb(notify.proc.pid)
    event, _ = await publish(kafka, example(ProductReadyV1, order_id=uid("ORD"), organisation_id=org))
    marker = event.headers["ce_id"].encode()

    async def receives(reader) -> bool:
        line = await asyncio.wait_for(reader.readuntil(marker), 30)
        return marker in line

    assert all(await asyncio.gather(*(receives(r) for r, _ in connections)))
    for _, writer in connections:
        writer.close()
    growth_mb = (held - before) / 1024
    print(f"\n1000 SSE clients: RSS {before / 1024:.1f} MB -> {held / 1024:.1f} MB (+{growth_mb:.1f} MB)")
    assert growth_mb < 100, f"1000 clients cost {growth_mb:.1f} MB"

    async def all_gone():
        return "dinamis_notify_sse_clients 0.0" in httpx.get(f"{API}/metrics").text

    await wait_for(all_gone)


async def test_a_replayed_partition_sends_no_duplicate_email(notify, kafka, settings):
    org = uid("org")
    person = await add_user(kafka, org=org, roles=["member"])
    await consumed(settings, [person["meta"]])
    events = [
        example(ProductReadyV1, order_id=uid("ORD"), organisation_id=org, user_id=person["id"])
        for _ in range(3)
    ]
    metas = [(await publish(kafka, e))[1] for e in events]
    await consumed(settings, metas)
    assert len(wait_mails(person["email"], 3)) == 3

    notify.stop()  # rewind the group to before these events, as a rebalance or an operator would
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        **settings.kafka_auth(),
        group_id=GROUP,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        rewind = {}
        for m in metas:
            tp = TopicPartition(m.topic, m.partition)
            rewind[tp] = min(rewind.get(tp, m.offset), m.offset)
        consumer.assign(list(rewind))
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in rewind.items()})
    finally:
        await consumer.stop()
    notify.start()
    await consumed(settings, metas)
    assert len(mails_to(person["email"])) == 3  # consumed twice, sent once

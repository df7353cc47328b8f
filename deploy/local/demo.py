"""Part of `make up`'s demo: publish one example of every event whose consumers do
not have their use case yet (they only log it: issues #5 to #7) and show which
running service consumed which (read from each service's /metrics). Ingest's real
work is shown by the supplier simulator, which `make up` runs next."""

from __future__ import annotations

import asyncio
import re
import sys
import time

import httpx

from dinamis_delivery.entrypoints.events import SUBSCRIPTIONS as DELIVERY
from dinamis_notify.entrypoints.events import SUBSCRIPTIONS as NOTIFY
from dinamis_orders.entrypoints.events import SUBSCRIPTIONS as ORDERS
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.events import SceneAcquiredV1, SceneIngestedV1
from dinamis_shared.examples import example_events
from dinamis_shared.settings import ServiceSettings

PORTS = {"orders": 8103, "delivery": 8104, "notify": 8105}
SUBSCRIBED = {
    (service, model.topic())
    for service, subscriptions in {
        "orders": ORDERS,
        "delivery": DELIVERY,
        "notify": NOTIFY,
    }.items()
    for model, _ in subscriptions
}
LINE = re.compile(r'dinamis_events_consumed_total\{group="\w+",outcome="handled",topic="([^"]+)"\} ([\d.]+)')


def handled() -> dict[tuple[str, str], float]:
    counts = {}
    for service, port in PORTS.items():
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        for topic, value in LINE.findall(text):
            counts[(service, topic)] = float(value)
    return counts


async def main() -> int:
    before = handled()
    broker = make_broker(ServiceSettings())
    await broker.connect()
    publisher = EventPublisher(broker, "/dinamis/demo")
    # Ingest and catalog do real work: the simulator shows them next, with real data.
    events = [e for e in example_events() if not isinstance(e, SceneAcquiredV1 | SceneIngestedV1)]
    for event in events:
        await publisher.publish(event)
    await broker.stop()
    print(f"==> demo: published {len(events)} example events, one per topic")
    expected = {(service, topic) for service, topic in SUBSCRIBED if topic in {e.topic() for e in events}}
    deadline = time.monotonic() + 30
    while True:
        after = handled()
        new = {k: after[k] - before.get(k, 0) for k in after if after[k] > before.get(k, 0)}
        if set(new) >= expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    for event in events:
        by = sorted(s for (s, t) in new if t == event.topic())
        print(f"    {event.topic():<32} consumed by: {', '.join(by) or 'nobody'}")
    missing = expected - set(new)
    for service, topic in sorted(missing):
        print(f"!!  {service} did not consume {topic} within 30 s", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""A consumer in its own process, for tests that kill it (see test_kafka.py).

    python consumer_proc.py GROUP CE_ID MODE
Prints "SEEN <ce_id>" for every event it handles. MODE=crash: on the event whose
ce_id is CE_ID, print "GOT", wait longer than Kafka's auto-commit interval (5 s, so
that a consumer committing *before* its work would be caught), then die without
cleanup (os._exit). MODE=ok: print "GOT" on it, return normally (then the offset
is committed) and keep consuming.
"""

from __future__ import annotations

import asyncio
import os
import sys

from dinamis_shared.bus import make_broker, subscribe
from dinamis_shared.events import SceneAcquiredV1
from dinamis_shared.settings import ServiceSettings


async def main(group: str, ce_id: str, mode: str) -> None:
    broker = make_broker(ServiceSettings())

    async def handle(envelope) -> None:
        print("SEEN", envelope.id, flush=True)
        if envelope.id != ce_id:
            return
        print("GOT", envelope.id, flush=True)
        if mode == "crash":
            await asyncio.sleep(6)
            os._exit(3)

    subscribe(broker, group, {SceneAcquiredV1: handle})
    await broker.start()
    print("STARTED", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

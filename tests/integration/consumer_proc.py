"""A consumer in its own process, for tests that kill it (see test_kafka.py).

    python consumer_proc.py GROUP CE_ID MODE
MODE=crash: on the event whose ce_id is CE_ID, print "GOT" and die before the
offset is committed (os._exit: no cleanup, no commit). MODE=ok: print "GOT" on it,
return normally (then the offset is committed) and keep consuming.
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
        if envelope.id != ce_id:
            return
        print("GOT", envelope.id, flush=True)
        if mode == "crash":
            os._exit(3)

    subscribe(broker, group, {SceneAcquiredV1: handle})
    await broker.start()
    print("STARTED", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

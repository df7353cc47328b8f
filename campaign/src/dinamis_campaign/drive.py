"""`dinamis campaign`: the yearly coverage on the running platform, stage by stage.

1. members — an operator, `organisations` organisations of every category (through the
   orders API), each with a referent and two members; a third of them get a SPOT quota and
   submit an acquisition request an operator approves (the quota is debited; the supplier
   simulator acquires it);
2. deliveries — the coverage campaign planned on the ops board, then the supplier delivers
   `cells` cells (packages written by the DIMAP simulator, staged in the `staging` bucket,
   announced with `scene-acquired`): a share cloudy (valid, over the cloud limit) or corrupt
   (a file altered after its checksum was taken: ingest must reject it with its reason);
   each such cell is re-tasked on the board and delivered again;
3. ingest → catalogue — every scene followed to `scene-ingested` and to the moment a search
   finds it;
4. the burst — once half the cells are covered, `orders` product orders from every
   organisation's users, on fields inside their department and a covered cell, placed with
   an `Idempotency-Key` and retried through crashes → delivery → `product-ready` → notify;
5. drain — until every cell is covered, every order settled and the consumer lag is 0;
   then the invariants (`invariants.py`), checked from the stores and topics.

With chaos, `chaos.py` kills replicas and restarts servers from stage 2 to the end of the
burst.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from dinamis_campaign import invariants
from dinamis_campaign.api import Caller, CallStats
from dinamis_campaign.chaos import Chaos, supervisor_restarts
from dinamis_campaign.chaos import count_by as _count
from dinamis_campaign.members import Member, ensure_members, ensure_operator
from dinamis_campaign.observe import BusObserver, LagSampler, SearchProbe
from dinamis_campaign.record import CampaignRecord, DeliveredScene, Fate, PlacedOrder, PlacedRequest
from dinamis_campaign.world import Cell, field_in, organisations, pick_cells, touching
from dinamis_portal.coverage.board import CoverageBoard, CoverageSettings
from dinamis_portal.coverage.store import MongoCoverageStore
from dinamis_portal.ops.kafka_admin import GROUP_TOPICS
from dinamis_shared import clients, cloudevents
from dinamis_shared.bus import EventPublisher, make_broker
from dinamis_shared.clients import mongo_client
from dinamis_shared.errors import DinamisError
from dinamis_shared.events import DeliveryRequestedV1, SceneAcquiredV1
from dinamis_shared.missions import mission_info
from dinamis_shared.retry import Backoff, retry
from dinamis_shared.settings import ServiceSettings
from dinamis_sim.simulator import SimulatedScene, announce, coverage_scene, stage_package, write_package

log = logging.getLogger(__name__)
FULL_SIZE_PAN_PX = 34_667  # a 52 km cell at SPOT 6/7's 1.5 m


@dataclass
class Options:
    cells: int = 240
    orders: int = 2000
    organisations: int = 50
    year: int = 2026
    size: int = 256  # PAN pixels across a cell (reduced: the GSD grows with the cell)
    full_size: bool = False
    cloudy_share: float = 0.08
    corrupt_share: float = 0.04
    requests_share: float = 0.3  # organisations submitting an acquisition request
    seed: int = 1
    chaos: bool = False
    kill_every_s: float = 10.0
    server_every_s: float = 30.0
    first_server_after_s: float = 20.0
    burst_after_share: float = 0.5
    stage_workers: int = 2
    order_concurrency: int = 8
    drain_s: float = 900.0
    lag_bound_s: float = 180.0
    orders_url: str = "http://127.0.0.1:8103/v1"
    catalog_url: str = "http://127.0.0.1:8102"
    key_file: Path = Path(".stack/auth/signing-key.pem")
    run_dir: Path = Path(".stack/run")  # the supervisor's (chaos only)
    out_dir: Path | None = None
    progress: bool = True
    prefix: str = "camp"  # organisations' ids: <prefix>-<year>-NN

    @property
    def pixels(self) -> int:
        return FULL_SIZE_PAN_PX if self.full_size else self.size


@dataclass
class Stage:
    started: float | None = None
    ended: float | None = None
    counts: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        self.started = time.monotonic()

    def end(self) -> None:
        self.ended = time.monotonic()

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return round(self.ended - self.started, 2)


def percentiles(values: list[float], digits: int = 3) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "n": len(values),
        "p50": round(statistics.median(ordered), digits),
        "p95": round(p95, digits),
        "max": round(ordered[-1], digits),
    }


class Progress:
    """One line per stage on stderr, redrawn in place on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last = 0.0

    def show(self, label: str, done: int, total: int, extra: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and not self.tty and now - self._last < 5:
            return
        self._last = now
        width = 30
        filled = int(width * done / total) if total else width
        line = f"{label:<14} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {extra}"
        if self.tty:
            sys.stderr.write("\r" + line[:160].ljust(160))
            if force:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


class Campaign:
    def __init__(self, opts: Options, settings: ServiceSettings | None = None) -> None:
        self.opts = opts
        self.settings = settings or ServiceSettings()
        self.rng = random.Random(opts.seed)
        self.run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.campaign = f"france-{opts.year}"
        self.record = CampaignRecord(self.run_id, self.campaign, opts.year, datetime.now(UTC))
        self.stages = {
            n: Stage() for n in ("members", "deliveries", "ingest", "burst", "drain", "invariants")
        }
        self.stats = CallStats()
        self.progress = Progress(opts.progress)
        self.cells = pick_cells(opts.year, opts.cells)
        self.by_number = {c.number: c for c in self.cells}
        self.attempts: dict[int, int] = {}  # cell -> deliveries so far
        self.covered: dict[int, str] = {}  # cell -> its good scene
        self.retasks: list[dict] = []
        self.refused_orders: dict[str, int] = {}
        self.order_errors: list[str] = []
        self.burst_window: tuple[float, float | None] | None = None
        self.placed_mono: dict[str, float] = {}
        self.announced_mono: dict[str, float] = {}
        self.chaos: Chaos | None = None
        # This run's scenes have ids of their own (the acquisition time is in the id).
        self.run_offset_s = random.Random(self.run_id).randrange(0, 36_000)
        self.request_scenes: dict[str, list[str]] = {}  # organisation -> scenes acquired for it

    # --- helpers -------------------------------------------------------------------

    def caller(self, http: httpx.AsyncClient, user_id: str) -> Caller:
        return Caller(http, self.opts.orders_url, self.opts.key_file, user_id, self.stats)

    # --- 1. members ------------------------------------------------------------------

    async def members(self, http: httpx.AsyncClient, operator: Caller) -> list[Member]:
        stage = self.stages["members"]
        stage.start()
        orgs = organisations(
            f"{self.opts.prefix}-{self.opts.year}", self.opts.organisations, self.cells, self.rng
        )
        members = await ensure_members(orgs, lambda u: self.caller(http, u), operator)
        self.record.organisations = [m.organisation.organisation_id for m in members]
        for m in members:
            for u in m.users:
                self.record.users[u] = f"{u}@{m.organisation.organisation_id}.example.fr"
        # Contractors may order only what their commissioning body obtained: every such body
        # asks for an acquisition, and a share of the others.
        bodies = {m.organisation.commissioning for m in members if m.organisation.commissioning}
        requesting = [m for m in members if m.organisation.organisation_id in bodies]
        others = [m for m in members if m.organisation.commissioning is None and m not in requesting]
        self.rng.shuffle(others)
        requesting += others[: max(0, round(self.opts.requests_share * len(members)) - len(requesting))]
        await asyncio.gather(*(self.acquisition_request(http, operator, m) for m in requesting))
        stage.counts = {
            "organisations": len(members),
            "by_category": _count(m.organisation.category.value for m in members),
            "users": len(self.record.users),
            "acquisition_requests": len(self.record.requests),
        }
        stage.end()
        return members

    async def acquisition_request(self, http: httpx.AsyncClient, operator: Caller, m: Member) -> None:
        oid = m.organisation.organisation_id
        dept = m.organisation.department
        near = touching(dept, self.cells) or self.cells
        # In its department and one of the run's cells; else anywhere in one of those cells.
        candidates = [(dept, c) for c in self.rng.sample(near, len(near))] + [("", c) for c in near]
        aoi = next((a for d, c in candidates if (a := field_in(d, c, self.rng, km2=120))), None)
        if aoi is None:
            self.order_errors.append(f"request {oid}: no 120 km² field in department {dept}")
            return
        member = self.caller(http, m.users[1])
        start = datetime.now(UTC) + timedelta(days=1)
        body = {
            "kind": "tasking",
            "sensor_family": "spot-6-7",
            "aoi": aoi,
            "window": {"start": start.isoformat(), "end": (start + timedelta(days=60)).isoformat()},
            "title": "Suivi de la campagne",
            "justification": f"Suivi des surfaces agricoles du département {m.organisation.department} "
            "(campagne de couverture annuelle).",
        }
        r = await member.call("POST", "/requests", json=body)
        if r.status_code != 201:
            self.order_errors.append(f"request {oid}: {r.status_code} {r.text[:200]}")
            return
        req = r.json()
        rid, period = req["request_id"], req["quota_period"]
        await operator.call(
            "POST", f"/quotas/{oid}/spot-6-7/{period}", json={"km2": 500, "reason": "dotation campagne"}
        )
        await operator.call("POST", f"/requests/{rid}/actions", json={"action": "start_review"})
        r = await operator.call("POST", f"/requests/{rid}/actions", json={"action": "approve"})
        if r.status_code == 200:
            self.record.requests[rid] = PlacedRequest(rid, oid, "spot-6-7", period, float(req["area_km2"]))
        else:
            self.order_errors.append(f"approve {rid}: {r.status_code} {r.text[:200]}")

    # --- 2. deliveries -----------------------------------------------------------------

    def _scene(self, cell: Cell, attempt: int, fate: Fate) -> SimulatedScene:
        scene = coverage_scene(cell.cell, self.opts.pixels, str(self.opts.year))
        scene.acquired_at = cell.cell.acquired_at + timedelta(days=9 * attempt, seconds=self.run_offset_s)
        scene.seed = cell.number * 10 + attempt
        scene.cloud_cover = self.rng.uniform(45, 80) if fate is Fate.CLOUDY else self.rng.uniform(0, 12)
        return scene

    def _stage(self, scene: SimulatedScene, fate: Fate) -> tuple[str, dict[str, str], int]:
        """Write and stage one package (a worker thread); a corrupt one has a file altered
        after its checksum was taken, as a transfer would."""
        s3 = clients.s3_client(self.settings)
        with tempfile.TemporaryDirectory(prefix="campaign-") as tmp:
            root = Path(tmp) / "pkg"
            checksums = write_package(scene, root)
            if fate is Fate.CORRUPT:
                victim = sorted(p for p in checksums if p.upper().endswith(".TIF"))[0]
                path = root / victim
                data = bytearray(path.read_bytes())
                mid = len(data) // 2
                data[mid : mid + 64] = bytes(b ^ 0xFF for b in data[mid : mid + 64])
                path.write_bytes(bytes(data))
            prefix = f"airbus/{scene.scene_id}-{uuid.uuid4().hex[:6]}/"
            size = retry_sync(lambda: stage_package(s3, root, "staging", prefix))
        return prefix, checksums, size

    async def send_bad_records(self, broker, example: SceneAcquiredV1) -> None:
        """A few records no consumer can use, sent on purpose: they must end on the
        dead-letter topics (and nothing else may)."""
        bad = {
            SceneAcquiredV1.topic(): [b"{not json", json.dumps({"scene_id": "campaign-bad"}).encode()],
            DeliveryRequestedV1.topic(): [json.dumps({"order_id": "campaign-bad", "products": []}).encode()],
        }
        for topic, values in bad.items():
            for value in values:
                record = cloudevents.encode(example, source="/dinamis/campaign")
                headers = dict(record.headers)
                if topic != SceneAcquiredV1.topic():
                    headers["ce_type"] = DeliveryRequestedV1.ce_type()

                async def send(v: bytes = value, h: dict = headers, t: str = topic) -> None:
                    await broker.publish(v, topic=t, key=b"bad", headers=h)

                await retry(send, backoff=Backoff(base=0.5, cap=5.0), attempts=60, what="a bad record")
                self.record.deliberate_dead_letters.setdefault(topic, []).append(headers["ce_id"])

    def _fate(self) -> Fate:
        x = self.rng.random()
        if x < self.opts.corrupt_share:
            return Fate.CORRUPT
        if x < self.opts.corrupt_share + self.opts.cloudy_share:
            return Fate.CLOUDY
        return Fate.GOOD

    async def deliver(
        self, pool: ThreadPoolExecutor, publisher: EventPublisher, cell: Cell, fate: Fate
    ) -> None:
        attempt = self.attempts.get(cell.number, 0)
        self.attempts[cell.number] = attempt + 1
        scene = self._scene(cell, attempt, fate)
        loop = asyncio.get_running_loop()
        prefix, checksums, size = await loop.run_in_executor(pool, self._stage, scene, fate)
        event = announce(scene, prefix, checksums, size, campaign=self.campaign)
        ce_id = str(uuid.uuid4())
        await retry(
            lambda: publisher.publish(event, event_id=ce_id),
            backoff=Backoff(base=0.5, cap=5.0),
            attempts=60,
            what=f"announcing {scene.scene_id}",
        )
        collection = f"{mission_info(scene.mission).family.value}-{self.campaign}"
        self.record.scenes[scene.scene_id] = DeliveredScene(
            scene.scene_id, cell.number, fate, collection, ce_id, datetime.now(UTC)
        )
        self.announced_mono[scene.scene_id] = time.monotonic()

    async def deliveries(
        self, pool: ThreadPoolExecutor, publisher: EventPublisher, observer: BusObserver, board
    ) -> None:
        """Deliver every cell, then follow each delivery: a rejected or cloudy one is
        re-tasked on the board and delivered again, until every cell is covered."""
        stage = self.stages["deliveries"]
        stage.start()
        total = len(self.cells)
        sem = asyncio.Semaphore(self.opts.stage_workers * 2)

        async def first(cell: Cell) -> None:
            async with sem:
                await self.deliver(pool, publisher, cell, self._fate())

        tasks = [asyncio.create_task(first(c)) for c in self.cells]
        example = announce(self._scene(self.cells[0], 0, Fate.GOOD), "airbus/none/", {}, 1, campaign=None)
        await self.send_bad_records(publisher.broker, example)
        followed: set[str] = set()
        retasking: set[asyncio.Task] = set()
        deadline = time.monotonic() + self.opts.drain_s
        while len(self.covered) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            for sid, delivered in list(self.record.scenes.items()):
                if sid in followed:
                    continue
                seen = observer.seen
                if sid in seen.rejected or (sid in seen.ingested and delivered.fate is Fate.CLOUDY):
                    followed.add(sid)
                    why = (
                        f"livraison rejetée : {seen.rejected[sid].reason_code}"
                        if sid in seen.rejected
                        else f"trop nuageux ({seen.ingested[sid].cloud_cover} %)"
                    )
                    t = asyncio.create_task(self.retask(pool, publisher, board, delivered.cell, why))
                    retasking.add(t)
                    t.add_done_callback(retasking.discard)
                elif sid in seen.ingested and delivered.fate is Fate.GOOD:
                    followed.add(sid)
                    self.covered[delivered.cell] = sid
            self.progress.show(
                "cells covered", len(self.covered), total, f"delivered {len(self.record.scenes)}"
            )
            for t in [t for t in tasks if t.done() and t.exception()]:
                raise t.exception()  # type: ignore[misc]
        self.progress.show("cells covered", len(self.covered), total, force=True)
        for c in self.cells:
            if c.number not in self.covered:
                mine = [s for s in self.record.scenes.values() if s.cell == c.number]
                states = [
                    f"{s.scene_id} {s.fate.value} ingested={s.scene_id in observer.seen.ingested} "
                    f"rejected={s.scene_id in observer.seen.rejected}"
                    for s in mine
                ]
                self.order_errors.append(f"cell {c.number} never covered: {states}")
        await asyncio.gather(*tasks, *retasking, return_exceptions=True)
        stage.end()
        fates = [s.fate.value for s in self.record.scenes.values()]
        stage.counts = {
            "cells": total,
            "covered": len(self.covered),
            "delivered": len(fates),
            "by_fate": _count(fates),
            "retasked": len(self.retasks),
            "bytes_staged_each_cell": None,
        }

    async def retask(self, pool, publisher, board, number: int, why: str) -> None:
        actor = {"user_id": "campaign-operator", "email": "campaign-operator@dinamis.example.fr"}
        for _ in range(240):  # the board applies the scene's event first (its own consumer)
            try:
                done = await board.retask(self.campaign, number, actor, why)
            except Exception as exc:  # FerretDB restarting
                log.info("retask %s: %s", number, exc)
                done = None
            if done is not None:
                self.retasks.append({"cell": number, "reason": why, "at": datetime.now(UTC).isoformat()})
                break
            await asyncio.sleep(0.5)
        else:
            self.order_errors.append(f"cell {number}: the board never made it re-taskable ({why})")
        await self.deliver(pool, publisher, self.by_number[number], Fate.GOOD)

    # --- 4. the burst ----------------------------------------------------------------

    async def burst(self, http: httpx.AsyncClient, members: list[Member], observer: BusObserver) -> None:
        stage = self.stages["burst"]
        t0 = time.monotonic()
        ok = await observer.wait(
            lambda: len(self.covered) >= self.opts.burst_after_share * len(self.cells), self.opts.drain_s
        )
        if not ok:
            self.order_errors.append("the burst never started: too few cells covered")
            return
        stage.start()
        self.burst_window = (time.monotonic(), None)
        waited = round(time.monotonic() - t0, 1)
        sem = asyncio.Semaphore(self.opts.order_concurrency)
        users = [(m, u) for m in members for u in m.users]
        total = self.opts.orders

        async def one(k: int) -> None:
            m, user = users[k % len(users)]
            async with sem:
                await self.order(http, k, m, user, observer)
            self.progress.show("orders placed", len(self.record.orders), total)

        await asyncio.gather(*(one(k) for k in range(total)))
        self.progress.show("orders placed", len(self.record.orders), total, force=True)
        stage.end()
        self.burst_window = (self.burst_window[0], time.monotonic())
        stage.counts = {
            "waited_for_half_coverage_s": waited,
            "asked": total,
            "placed": len(self.record.orders),
            "replayed": sum(1 for o in self.record.orders.values() if getattr(o, "replayed", False)),
            "refused": dict(sorted(self.refused_orders.items())),
        }

    async def obtained_by_body(self, operator: Caller, body: str, observer: BusObserver) -> list[str]:
        """Scenes acquired for the commissioning body's requests, once ingested."""
        if self.request_scenes.get(body):
            return self.request_scenes[body]
        if not any(req.organisation_id == body for req in self.record.requests.values()):
            return []  # the body asked for nothing: nothing to order
        for _ in range(60):
            scenes: list[str] = []
            for rid, req in self.record.requests.items():
                if req.organisation_id != body:
                    continue
                r = await operator.call("GET", f"/requests/{rid}")
                if r.status_code == 200:
                    scenes += [s for s in r.json().get("scenes") or [] if s in observer.seen.ingested]
            if scenes:
                self.request_scenes[body] = scenes
                return scenes
            await asyncio.sleep(2)
        return []

    async def order(
        self, http: httpx.AsyncClient, k: int, m: Member, user: str, observer: BusObserver
    ) -> None:
        rng = random.Random(self.opts.seed * 1_000_003 + k)
        caller = self.caller(http, user)
        body = m.organisation.commissioning
        if body is not None:
            # A contractor orders whole scenes its commissioning body obtained.
            scenes = await self.obtained_by_body(self.caller(http, "campaign-operator"), body, observer)
            if not scenes:
                key = "none-obtained-by-the-body"
                self.refused_orders[key] = self.refused_orders.get(key, 0) + 1
                return
            sid = rng.choice(scenes)
            await self.place(caller, k, m, user, [(observer.seen.ingested[sid].collection, sid)], None)
            return
        covered = [self.by_number[n] for n in self.covered]
        near = [c for c in touching(m.organisation.department, covered)] or covered
        cell = rng.choice(near)
        aoi = field_in(m.organisation.department, cell, rng, km2=rng.uniform(2, 12))
        if aoi is None:
            aoi = field_in("", cell, rng, km2=rng.uniform(2, 12))
        good = self.covered[cell.number]
        items = [(self.record.scenes[good].collection, good)]
        # Sometimes the cloudy scene of the same cell too (it is in the catalogue, and some
        # users want every date).
        cloudy = [s for s in self.record.scenes.values() if s.cell == cell.number and s.fate is Fate.CLOUDY]
        if cloudy and rng.random() < 0.5 and cloudy[0].scene_id in observer.seen.ingested:
            items.append((cloudy[0].collection, cloudy[0].scene_id))
        await self.place(caller, k, m, user, items, aoi)

    async def place(
        self, caller: Caller, k: int, m: Member, user: str, items: list[tuple[str, str]], aoi: dict | None
    ) -> None:
        body = {"items": [{"collection": c, "item_id": i} for c, i in items], "aoi": aoi, "crs": "EPSG:2154"}
        r = await caller.call(
            "POST", "/product-orders", json=body, headers={"Idempotency-Key": f"{self.run_id}-{k}"}
        )
        if r.status_code in (200, 201):
            placed = r.json()
            oid = placed["order_id"]
            self.record.orders[oid] = PlacedOrder(
                oid, m.organisation.organisation_id, user, items, datetime.now(UTC)
            )
            self.placed_mono.setdefault(oid, time.monotonic())
        else:
            code = f"{r.status_code} {_problem_code(r)}"
            self.refused_orders[code] = self.refused_orders.get(code, 0) + 1
            if len(self.order_errors) < 50:
                self.order_errors.append(f"order {k}: {r.status_code} {r.text[:300]}")

    # --- 5. drain ----------------------------------------------------------------------

    def products_expected(self) -> int:
        return sum(len(o.items) for o in self.record.orders.values())

    def settled(self, observer: BusObserver) -> bool:
        by_order = observer.seen.by_order
        return all(len(by_order.get(oid, ())) >= len(o.items) for oid, o in self.record.orders.items())

    async def drain(self, observer: BusObserver, lag: LagSampler) -> None:
        stage = self.stages["drain"]
        stage.start()
        deadline = time.monotonic() + self.opts.drain_s
        total = self.products_expected()
        while time.monotonic() < deadline and not self.settled(observer):
            self.progress.show("products", len(observer.seen.outcomes), total)
            await observer.wait(lambda: self.settled(observer), 2)
        self.progress.show("products", len(observer.seen.outcomes), total, force=True)
        # The lag back to 0 (every group), within the bound.
        lag_deadline = time.monotonic() + self.opts.lag_bound_s
        zero_at = None
        while time.monotonic() < lag_deadline:
            try:
                current = await lag.sample()
            except Exception:
                await asyncio.sleep(1)
                continue
            if current and all(v == 0 for v in current.values()):
                zero_at = time.monotonic()
                break
            await asyncio.sleep(1)
        stage.end()
        stage.counts = {
            "settled": self.settled(observer),
            "lag_zero_after_s": round(zero_at - stage.started, 1) if zero_at and stage.started else None,
            "lag_at_end": lag.last,
        }

    # --- the run -----------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        opts = self.opts
        if self.settings.environment != "development":
            # It writes a staff account straight into the records, mints tokens with the
            # development key and restarts servers: never on a production platform.
            raise NotDevelopment(
                "dinamis campaign runs on development platforms only",
                message_fr="dinamis campaign ne s'exécute que sur une plateforme de développement",
            )
        t_start = time.monotonic()
        self.record.start_offsets = await invariants.start_offsets(self.settings)
        self.record.groups = sorted({g for g, _ in GROUP_TOPICS})
        if opts.chaos:
            self.chaos = Chaos(
                opts.run_dir,
                self.rng,
                kill_every_s=opts.kill_every_s,
                first_server_after_s=opts.first_server_after_s,
                server_every_s=opts.server_every_s,
            )
        portal_mongo = mongo_client(self.settings)
        board = CoverageBoard(MongoCoverageStore(portal_mongo[_portal_database()]), CoverageSettings())
        broker = make_broker(self.settings)
        await broker.connect()
        publisher = EventPublisher(broker, "/dinamis/supplier-simulator")
        lag = LagSampler(self.settings)
        background: list[asyncio.Task] = []
        pool = ThreadPoolExecutor(opts.stage_workers)
        try:
            async with (
                httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as http,
                BusObserver(self.settings, self.record.start_offsets) as observer,
            ):
                operator = self.caller(http, "campaign-operator")
                started = await under_way(board.store, self.campaign)  # type: ignore[arg-type]
                if started:
                    raise CampaignUnderWay(
                        f"campaign {self.campaign} is under way on this platform ({started} cells past"
                        " planned): choose another --year, or none (the first fresh year)",
                        message_fr=f"campagne {self.campaign} déjà entamée sur cette plateforme ({started}"
                        " mailles) : choisissez une autre --year, ou aucune (la première année libre)",
                    )
                await ensure_operator("campaign-operator")
                members = await self.members(http, operator)
                await board.plan(self.campaign, opts.year, {"user_id": "campaign-operator"})
                probe = SearchProbe(opts.catalog_url, observer.seen)
                background += [asyncio.create_task(probe.run()), asyncio.create_task(lag.run())]
                if self.chaos:
                    background += [
                        asyncio.create_task(self.chaos.kill_loop()),
                        asyncio.create_task(self.chaos.server_loop()),
                    ]
                self.stages["ingest"].start()
                await asyncio.gather(
                    self.deliveries(pool, publisher, observer, board), self.burst(http, members, observer)
                )
                self.stages["ingest"].end()
                if self.chaos:  # the faults stop with the burst (the servers not restarted yet
                    # are, now); then the platform drains alone
                    kills, servers = background[2:]
                    kills.cancel()
                    self.chaos.hurry.set()
                    await servers
                await self.drain(observer, lag)
                # The searches of the last scenes.
                await observer.wait(
                    lambda: all(i.searchable_mono for i in observer.seen.ingested.values()), 30
                )
                for t in background:
                    t.cancel()
                self.stages["invariants"].start()
                checks = await invariants.check(self.settings, self.record, lag_bound_s=opts.lag_bound_s)
                self.stages["invariants"].end()
                report = self.report(observer, lag, probe, checks, time.monotonic() - t_start)
        finally:
            for t in background:
                t.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            await broker.stop()
            await portal_mongo.close()
        if opts.out_dir:
            opts.out_dir.mkdir(parents=True, exist_ok=True)
            self.record.save(opts.out_dir / f"campaign-{self.run_id}-record.json")
        return report

    # --- the report ----------------------------------------------------------------------

    def report(
        self, observer: BusObserver, lag: LagSampler, probe: SearchProbe, checks, wall_s: float
    ) -> dict:
        seen = observer.seen
        st = self.stages
        ingest_lat = [
            i.seen_mono - self.announced_mono[sid]
            for sid, i in seen.ingested.items()
            if sid in self.announced_mono
        ]
        search_ms = [i.searchable_ms for i in seen.ingested.values() if i.searchable_ms is not None]
        during = []
        if self.burst_window:
            b0, b1 = self.burst_window
            during = [
                i.searchable_ms
                for i in seen.ingested.values()
                if i.searchable_ms is not None and i.seen_mono >= b0 and (b1 is None or i.seen_mono <= b1)
            ]
        announce_to_searchable = [
            i.searchable_mono - self.announced_mono[sid]
            for sid, i in seen.ingested.items()
            if sid in self.announced_mono and i.searchable_mono
        ]
        order_latency = []
        for oid, o in self.record.orders.items():
            done = [seen.outcomes[p].seen_mono for p in seen.by_order.get(oid, ()) if p in seen.outcomes]
            if len(done) >= len(o.items) and oid in self.placed_mono:
                order_latency.append(max(done) - self.placed_mono[oid])
        ours = {p for oid in self.record.orders for p in seen.by_order.get(oid, ())}
        ready = [p for p in ours if seen.outcomes[p].ready]
        failed = {p: seen.outcomes[p].reason for p in ours if not seen.outcomes[p].ready}
        ingest_s = st["ingest"].seconds or 0
        burst_s = st["burst"].seconds or 0
        drain_end = st["drain"].ended or time.monotonic()
        products_s = (drain_end - st["burst"].started) if st["burst"].started else None
        ours_scenes = set(self.record.scenes)
        rejections = [
            {
                "scene_id": sid,
                "cell": self.record.scenes[sid].cell,
                "fate": self.record.scenes[sid].fate.value,
                "reason_code": r.reason_code,
                "reason": r.reason[:300],
            }
            for sid, r in seen.rejected.items()
            if sid in ours_scenes
        ]
        summary = invariants.summary(checks)
        chaos = None
        if self.chaos:
            chaos = self.chaos.log.as_json() | {
                "supervisor_restarts": supervisor_restarts(self.opts.run_dir, self.record.started_at)
            }
        cores = os.cpu_count() or 1
        return {
            "run_id": self.run_id,
            "campaign": self.campaign,
            "started_at": self.record.started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in self.opts.__dict__.items()},
            "machine": {"cores": cores},
            "wall_s": round(wall_s, 1),
            # The campaign proper: the first delivery -> every product built, the lag back to 0.
            "active_s": round((st["drain"].ended or 0) - (st["deliveries"].started or 0), 1),
            "setup_s": st["members"].seconds,
            "invariants_s": st["invariants"].seconds,
            "stages": {
                "members": {"seconds": st["members"].seconds, **st["members"].counts},
                "deliveries": {
                    "seconds": st["deliveries"].seconds,
                    **st["deliveries"].counts,
                    "scenes_per_min": round(60 * len(self.record.scenes) / ingest_s, 1) if ingest_s else None,
                },
                "ingest": {
                    "ingested": len(ours_scenes & set(seen.ingested)),
                    "rejected": len(rejections),
                    "latency_announce_to_ingested_s": percentiles(ingest_lat),
                },
                "catalog": {
                    "searchable": len(search_ms),
                    "ingested_to_searchable_ms": percentiles(search_ms, 1),
                    "ingested_to_searchable_ms_during_burst": percentiles(during, 1),
                    "search_errors": probe.errors,
                },
                "orders": {
                    "seconds": burst_s,
                    **st["burst"].counts,
                    "orders_per_s": round(len(self.record.orders) / burst_s, 2) if burst_s else None,
                    "http": {
                        "calls": self.stats.calls,
                        "retries": self.stats.retries,
                        "by_status": dict(sorted(self.stats.by_status.items())),
                    },
                },
                "delivery": {
                    "products_expected": self.products_expected(),
                    "ready": len(ready),
                    "failed": len(failed),
                    "failed_reasons": _count(r.split(":")[0] for r in failed.values() if r),
                    "products_per_min": round(60 * len(ours) / products_s, 1) if products_s else None,
                    "latency_order_to_ready_s": percentiles(order_latency, 2),
                },
                "drain": {"seconds": st["drain"].seconds, **st["drain"].counts},
            },
            "end_to_end": {"announce_to_searchable_s": percentiles(announce_to_searchable, 2)},
            "lag_peaks": dict(sorted(lag.peaks.items())),
            "lag_samples": lag.samples,
            "events_seen_twice": seen.duplicates,
            "rejections": rejections,
            "retasks": self.retasks,
            "errors": self.order_errors[:50],
            "chaos": chaos,
            "invariants": summary,
            "ok": bool(summary.get("ok")) and not self.order_errors,
        }


class NotDevelopment(DinamisError):
    code = "not-development"


class CampaignUnderWay(DinamisError):
    code = "campaign-under-way"


async def under_way(store: MongoCoverageStore, campaign: str) -> int:
    """Cells of the campaign past *planned* on the ops board."""
    return sum(1 for c in await store.cells(campaign) if c.get("state") != "planned")


async def fresh_year(settings: ServiceSettings, start: int) -> int:
    """The first year from `start` whose coverage campaign has not begun on this platform
    (a run re-using a campaign under way would meet cells already covered)."""
    client = mongo_client(settings)
    try:
        store = MongoCoverageStore(client[_portal_database()])
        for year in range(start, 2100):
            if not await under_way(store, f"france-{year}"):
                return year
    finally:
        await client.close()
    raise CampaignUnderWay(
        "every campaign up to 2099 is under way", message_fr="toutes les campagnes sont entamées"
    )


def _problem_code(r: httpx.Response) -> str:
    try:
        return str(r.json().get("code") or r.json().get("type", "")).rsplit("/", 1)[-1]
    except ValueError:
        return ""


def _portal_database() -> str:
    from dinamis_portal.settings import PortalSettings

    return PortalSettings().mongo_database


def retry_sync(work: Callable[[], int], attempts: int = 60) -> int:
    """Uploads through an S3 server restart: try again after a pause."""
    for k in range(attempts):
        try:
            return work()
        except Exception:
            if k == attempts - 1:
                raise
            time.sleep(min(5.0, 0.5 * (k + 1)))
    raise AssertionError("unreachable")

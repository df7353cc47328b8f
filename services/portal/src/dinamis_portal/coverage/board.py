"""The board's logic over its store: plan a campaign, apply a scene event, re-task a
cell, mark published cells. Hostile or foreign events are skipped with a log line and
never raise (the consumer goes on); a store outage raises (the consumer retries)."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dinamis_portal.coverage.grid import Grid, load_grid
from dinamis_portal.coverage.state import (
    RETASKABLE,
    campaign_of_collection,
    derive,
    season,
    year_of_campaign,
)
from dinamis_portal.coverage.store import CoverageStore, cell_key, complete, next_rev
from dinamis_shared.events import SceneAcquiredV1, SceneIngestedV1, SceneRejectedV1

log = logging.getLogger(__name__)
HISTORY_MAX = 100  # transitions kept per cell
EVENTS_MAX = 50  # event ids kept per scene (a scene has a handful)


class CoverageSettings(BaseSettings):
    """The board's settings (env `DINAMIS_PORTAL_*`, like the portal's)."""

    model_config = SettingsConfigDict(env_prefix="DINAMIS_PORTAL_", extra="ignore")

    # The consumer of the scene events (group `portal-coverage`); off: the board is frozen.
    coverage_consumer: bool = True
    # A scene ingested with more cloud (percent) than this is too cloudy for the coverage.
    coverage_cloud_max: float = Field(default=20.0, ge=0, le=100)
    # How often ingested cells are looked up in the catalogue (published?).
    coverage_publish_check_s: float = Field(default=5.0, gt=0)
    # The live stream: how often it looks for changes, its heartbeat, its longest life (the
    # browser reconnects), and how many one session may hold.
    coverage_stream_poll_s: float = Field(default=1.0, gt=0)
    coverage_stream_heartbeat_s: float = Field(default=15.0, gt=0)
    coverage_stream_max_s: float = Field(default=300.0, gt=0)
    coverage_streams_per_session: int = Field(default=3, ge=1, le=20)
    coverage_streams_max: int = Field(default=50, ge=1, le=1000)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def tasking_ref(year: int, number: int) -> str:
    """The reference the cell's tasking carries to the supplier, which names it in its
    delivery (`supplier_product_id`): `<year><cell, 5 digits>` (the simulated supplier's
    convention, `dinamis_sim.simulator.coverage_scene`)."""
    return f"{year}{number:05d}"


class CoverageBoard:
    def __init__(self, store: CoverageStore, settings: CoverageSettings, grid: Grid | None = None) -> None:
        self.store = store
        self.settings = settings
        self._grid = grid
        self._planned: set[str] = set()

    @property
    def grid(self) -> Grid:
        if self._grid is None:
            self._grid = load_grid()  # read once per process, on first use
        return self._grid

    # --- operators ----------------------------------------------------------------

    async def plan(self, campaign: str, year: int, actor: dict[str, Any]) -> int:
        start, end = season(year)
        at = now_iso()
        docs = []
        for number, cell in sorted(self.grid.cells.items()):
            docs.append(
                complete(
                    {
                        "_id": cell_key(campaign, number),
                        "campaign": campaign,
                        "year": year,
                        "cell": number,
                        "region": cell.region,
                        "tasking_ref": tasking_ref(year, number),
                        "state": "planned",
                        "window": {"start": start.isoformat(), "end": end.isoformat()},
                        "planned_at": at,
                        "history": [
                            {"at": at, "state": "planned", "by": actor.get("email") or actor.get("user_id")}
                        ],
                        "rev": next_rev(),
                    }
                )  # every other key at its default (store.CELL_DEFAULTS)
            )
        created = await self.store.plan(docs)
        self._planned.add(campaign)
        return created

    async def retask(
        self, campaign: str, number: int, actor: dict[str, Any], reason: str
    ) -> dict[str, Any] | None:
        """Re-task a rejected or too-cloudy cell: its current scenes are closed, the cell
        is re-tasked until a new scene arrives. None: no such cell, or not re-taskable."""
        for _ in range(5):
            doc = await self.store.cell(campaign, number)
            if doc is None or doc.get("state") not in RETASKABLE:
                return None
            scenes = await self.store.scenes_of(campaign, number)
            closed = sorted(set(doc.get("scene_ids") or []) | {s["_id"] for s in scenes})
            at = now_iso()
            new = dict(doc)
            new["retasks"] = [
                *(doc.get("retasks") or []),
                {
                    "at": at,
                    "by": actor.get("email") or actor.get("user_id"),
                    "reason": reason,
                    "closed": closed,
                },
            ]
            if await self._recompute(new, scenes, at, by=actor.get("email"), detail=reason):
                return new
        return None

    # --- events -------------------------------------------------------------------

    async def apply(self, event_id: str, event: Any) -> str:
        """Apply one decoded event; returns what happened (for logs and tests):
        "applied", "duplicate", or "skipped:<why>"."""
        if isinstance(event, SceneAcquiredV1):
            return await self._acquired(event_id, event)
        if isinstance(event, SceneIngestedV1):
            return await self._ingested(event_id, event)
        if isinstance(event, SceneRejectedV1):
            return await self._rejected(event_id, event)
        return self._skip("not-a-scene-event", event_id)

    async def _known(self, campaign: str | None) -> bool:
        if not campaign:
            return False
        if campaign in self._planned:
            return True
        if await self.store.campaign_planned(campaign):
            self._planned.add(campaign)
            return True
        return False

    def _skip(self, why: str, event_id: str, **extra: Any) -> str:
        log.info("coverage: event skipped", extra={"why": why, "event_id": event_id, **extra})
        return f"skipped:{why}"

    async def _acquired(self, event_id: str, event: SceneAcquiredV1) -> str:
        if not event.campaign:
            return self._skip("no-campaign", event_id, scene_id=event.scene_id)
        if not await self._known(event.campaign):
            return self._skip("unknown-campaign", event_id, campaign=event.campaign)
        scene = await self._scene(event.scene_id)
        if event_id in scene["events"]:
            return "duplicate"
        scene["campaign"] = scene.get("campaign") or event.campaign
        if scene.get("cell") is None:
            year = scene_year(event.campaign)
            by_ref = {tasking_ref(year, n): n for n in self.grid.cells} if year else {}
            scene["cell"] = by_ref.get(event.supplier_product_id)
        scene["facts"].setdefault("acquired", {"at": event.delivered_at.astimezone(UTC).isoformat()})
        return await self._save(scene, event_id)

    async def _ingested(self, event_id: str, event: SceneIngestedV1) -> str:
        scene = await self._scene(event.scene_id)
        if event_id in scene["events"]:
            return "duplicate"
        campaign = scene.get("campaign") or campaign_of_collection(event.collection)
        if not await self._known(campaign):
            return self._skip(
                "unknown-campaign", event_id, scene_id=event.scene_id, collection=event.collection
            )
        cell = self.grid.cell_of_footprint(event.item.get("geometry"))
        if cell is None:
            return self._skip("outside-the-grid", event_id, scene_id=event.scene_id)
        properties = event.item.get("properties")
        cloud = properties.get("eo:cloud_cover") if isinstance(properties, dict) else None
        scene["campaign"] = campaign
        scene["cell"] = cell.number  # the footprint decides (a tasking reference only guessed)
        previous = scene["facts"].get("ingested") or {}
        if int(previous.get("version") or 0) <= event.version:
            scene["facts"]["ingested"] = {
                "at": now_iso(),
                "version": event.version,
                "cloud": cloud_percent(cloud),
                "collection": event.collection,
                "item_id": str(event.item.get("id")),
            }
        return await self._save(scene, event_id)

    async def _rejected(self, event_id: str, event: SceneRejectedV1) -> str:
        scene = await self._scene(event.scene_id)
        if event_id in scene["events"]:
            return "duplicate"
        scene["facts"].setdefault(
            "rejected", {"at": now_iso(), "code": event.reason_code.value, "reason": event.reason[:500]}
        )
        if not scene.get("campaign"):
            # Not (yet) known as a campaign's scene: kept, applied if its delivery shows up.
            scene["events"] = [*scene["events"], event_id][-EVENTS_MAX:]
            await self.store.save_scene(scene)
            return self._skip("scene-not-in-a-campaign", event_id, scene_id=event.scene_id)
        return await self._save(scene, event_id)

    async def _scene(self, scene_id: str) -> dict[str, Any]:
        found = await self.store.scene(scene_id)
        return found or {"_id": scene_id, "campaign": None, "cell": None, "facts": {}, "events": []}

    async def _save(self, scene: dict[str, Any], event_id: str) -> str:
        scene["events"] = [*scene["events"], event_id][-EVENTS_MAX:]
        await self.store.save_scene(scene)
        if scene.get("cell") is None or not scene.get("campaign"):
            return "applied"  # a campaign's scene whose cell its footprint will tell
        await self.refresh(scene["campaign"], int(scene["cell"]))
        return "applied"

    async def refresh(self, campaign: str, number: int) -> dict[str, Any] | None:
        for _ in range(5):
            doc = await self.store.cell(campaign, number)
            if doc is None:
                return None  # a cell the campaign does not hold
            scenes = await self.store.scenes_of(campaign, number)
            if await self._recompute(dict(doc), scenes, now_iso()):
                return doc
        raise RuntimeError(f"cell {campaign}:{number} kept changing under the consumer")

    async def _recompute(
        self,
        doc: dict[str, Any],
        scenes: list[dict[str, Any]],
        at: str,
        *,
        by: str | None = None,
        detail: str | None = None,
    ) -> bool:
        closed = {s for r in doc.get("retasks") or [] for s in r.get("closed") or []}
        d = derive(scenes, closed, bool(doc.get("retasks")), self.settings.coverage_cloud_max)
        shown = ("state", "scene_id", "cloud", "reason_code", "acquired_at", "ingested_at", "published_at")
        before = tuple(doc.get(k) for k in shown)
        doc.update(
            state=d.state,
            scene_id=d.scene_id,
            cloud=d.cloud,
            reason_code=d.reason_code,
            reason=d.reason,
            acquired_at=d.acquired_at,
            ingested_at=d.ingested_at,
            published_at=d.published_at,
            scene_ids=sorted({*(doc.get("scene_ids") or []), *(s["_id"] for s in scenes)}),
        )
        after = tuple(doc.get(k) for k in shown)
        if before == after and detail is None and len(doc["scene_ids"]) == len(scenes):
            return True  # nothing the board shows has changed
        if before[0] != d.state or detail is not None:
            entry: dict[str, Any] = {"at": at, "state": d.state}
            if d.scene_id:
                entry["scene_id"] = d.scene_id
            if by:
                entry["by"] = by
            if detail or d.reason_code:
                entry["detail"] = detail or d.reason_code
            doc["history"] = [*(doc.get("history") or []), entry][-HISTORY_MAX:]
        old_rev = int(doc.get("rev") or 0)
        doc["rev"] = next_rev(old_rev)
        return await self.store.save_cell(doc, old_rev)

    # --- the catalogue --------------------------------------------------------------

    async def mark_published(self, scene_id: str, at: str) -> None:
        scene = await self.store.scene(scene_id)
        if scene is None or scene["facts"].get("published"):
            return
        scene["facts"]["published"] = {"at": at}
        await self.store.save_scene(scene)
        if scene.get("campaign") and scene.get("cell") is not None:
            await self.refresh(scene["campaign"], int(scene["cell"]))


def scene_year(campaign: str) -> int | None:
    return year_of_campaign(campaign)


def cloud_percent(value: object) -> float | None:
    """A cloud cover in percent, or None: not a number, a boolean, non-finite, out of
    0..100, or an integer too large for a float (a hostile event never raises here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and 0 <= number <= 100 else None

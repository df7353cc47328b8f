"""The cell state machine, pure: what the events and the operators' actions say about a
scene (its facts), the cell's state derived from its scenes' facts, the progress and the
season's target line. No I/O here (store.py keeps the records, consumer.py feeds them).

A scene's facts only grow: `acquired` (the supplier delivered it), `ingested` (archived,
with its cloud cover), `rejected` (ingest refused it, with a reason code), `published`
(the catalogue serves its item). A cell's state is derived from the facts of its scenes
that no re-task closed, so a late or repeated event never undoes a later state:

    planned → acquired → ingested → published
                       ↘ rejected / too-cloudy → (re-task) → re-tasked → acquired → …

Order of precedence over a cell's open scenes: published > ingested > acquired (a new
attempt under way) > too-cloudy > rejected; no open scene: re-tasked if an operator
re-tasked the cell, else planned. A scene ingested with a cloud cover above the threshold
is too cloudy (published or not: the catalogue keeps it, the coverage needs another)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

STATES = ("planned", "acquired", "ingested", "published", "too-cloudy", "rejected", "re-tasked")
# Cells that count as covered (progress), and those an operator may re-task.
DONE_STATES = frozenset({"ingested", "published"})
RETASKABLE = frozenset({"rejected", "too-cloudy"})
_RANK = {"published": 5, "ingested": 4, "acquired": 3, "too-cloudy": 2, "rejected": 1}
SEASON = ((4, 1), (9, 30))  # April 1st to September 30th


def campaign_of_year(year: int) -> str:
    """The campaign's name, as the supplier simulator and the catalogue know it
    (`scene-acquired.campaign`, collection `spot-6-7-<campaign>`)."""
    return f"france-{year}"


def year_of_campaign(campaign: str) -> int | None:
    prefix = "france-"
    tail = campaign[len(prefix) :] if campaign.startswith(prefix) else ""
    return int(tail) if tail.isascii() and tail.isdigit() and len(tail) == 4 else None


def collection_of(campaign: str) -> str:
    return f"spot-6-7-{campaign}"


def campaign_of_collection(collection: str) -> str | None:
    prefix = "spot-6-7-"
    campaign = collection[len(prefix) :] if collection.startswith(prefix) else ""
    return campaign if year_of_campaign(campaign) else None


def scene_outcome(facts: dict[str, Any], cloud_max: float) -> str:
    """One scene's state from its facts."""
    ingested = facts.get("ingested")
    if ingested:
        cloud = ingested.get("cloud")
        if isinstance(cloud, int | float) and cloud > cloud_max:
            return "too-cloudy"
        return "published" if facts.get("published") else "ingested"
    if facts.get("rejected"):
        return "rejected"
    return "acquired"


@dataclass(frozen=True)
class Derived:
    state: str
    scene_id: str | None  # the scene that decides the state
    cloud: float | None
    reason_code: str | None
    reason: str | None
    acquired_at: str | None
    ingested_at: str | None
    published_at: str | None


def derive(scenes: list[dict[str, Any]], closed: set[str], retasked: bool, cloud_max: float) -> Derived:
    """A cell's state from its scenes (each `{"_id": scene_id, "facts": {...}}`), the scene
    ids closed by re-tasks and whether the cell was ever re-tasked."""
    best: tuple[int, str, dict[str, Any]] | None = None
    for scene in scenes:
        if scene["_id"] in closed:
            continue
        facts = scene.get("facts") or {}
        outcome = scene_outcome(facts, cloud_max)
        key = (_RANK[outcome], _seen(facts))
        if best is None or key > (best[0], _seen(best[2])):
            best = (_RANK[outcome], scene["_id"], facts)
    if best is None:
        return Derived("re-tasked" if retasked else "planned", None, None, None, None, None, None, None)
    _, scene_id, facts = best
    outcome = scene_outcome(facts, cloud_max)
    acquired = facts.get("acquired") or {}
    ingested = facts.get("ingested") or {}
    rejected = facts.get("rejected") or {}
    published = facts.get("published") or {}
    cloud = ingested.get("cloud")
    return Derived(
        state=outcome,
        scene_id=scene_id,
        cloud=float(cloud) if isinstance(cloud, int | float) else None,
        reason_code=rejected.get("code") if outcome == "rejected" else None,
        reason=rejected.get("reason") if outcome == "rejected" else None,
        acquired_at=acquired.get("at"),
        ingested_at=ingested.get("at"),
        published_at=published.get("at"),
    )


def _seen(facts: dict[str, Any]) -> str:
    """When the scene was last heard of (ISO text): the later attempt wins a tie."""
    return max(
        str((facts.get(k) or {}).get("at") or "") for k in ("acquired", "ingested", "rejected", "published")
    )


# --- progress and the season's target -------------------------------------------------


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0


def progress(cells: list[dict[str, Any]]) -> Progress:
    return Progress(sum(1 for c in cells if c.get("state") in DONE_STATES), len(cells))


def progress_by_region(
    cells: list[dict[str, Any]], regions: dict[str, str]
) -> list[tuple[str, str, Progress]]:
    out = []
    for code, name in regions.items():
        mine = [c for c in cells if c.get("region") == code]
        out.append((code, name, progress(mine)))
    return out


def season(year: int) -> tuple[date, date]:
    (m0, d0), (m1, d1) = SEASON
    return date(year, m0, d0), date(year, m1, d1)


def target_share(year: int, day: date) -> float:
    """The share (0..1) of the cells the season's linear target expects covered by the end
    of `day`: 0 before April 1st, 1 from September 30th."""
    start, end = season(year)
    if day < start:
        return 0.0
    if day >= end:
        return 1.0
    return ((day - start).days + 1) / ((end - start).days + 1)


def actual_series(cells: list[dict[str, Any]], year: int) -> list[tuple[date, int]]:
    """(day, cells covered by the end of that day), one point per day a cell was covered."""
    days: dict[date, int] = {}
    for cell in cells:
        if cell.get("state") not in DONE_STATES or not cell.get("ingested_at"):
            continue
        try:
            day = datetime.fromisoformat(str(cell["ingested_at"])).astimezone(UTC).date()
        except ValueError:
            continue
        days[day] = days.get(day, 0) + 1
    total, out = 0, []
    for day in sorted(days):
        total += days[day]
        out.append((day, total))
    return out


def chart_svg_data(
    cells: list[dict[str, Any]], year: int, today: date, width: int = 640, height: int = 240
) -> dict[str, Any]:
    """The numbers of the server-side SVG chart: the target line (April 1st → September
    30th, 0 → all cells) and the actual cumulative line, in the chart's pixel space."""
    start, end = season(year)
    span = (end - start).days or 1
    left, right, top, bottom = 48, width - 12, 12, height - 32
    total = max(1, len(cells))

    def x(day: date) -> float:
        clamped = min(max(day, start), end)
        return round(left + (right - left) * (clamped - start).days / span, 1)

    def y(count: float) -> float:
        return round(bottom - (bottom - top) * min(count, total) / total, 1)

    points = [(x(start), y(0))]
    for day, count in actual_series(cells, year):
        points.append((x(day), points[-1][1]))  # a step: flat until the day, then up
        points.append((x(day), y(count)))
    last = min(max(today, start), end)
    points.append((x(last), points[-1][1]))
    months = []
    for month in range(4, 10):
        months.append((x(date(year, month, 1)), date(year, month, 1)))
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "target": [(x(start), y(0)), (x(end), y(total))],
        "actual": points,
        "today_x": x(last),
        "months": months,
        "ticks": [(y(v), v) for v in sorted({0, total // 2, total})],
        "expected_today": round(total * target_share(year, today)) if len(cells) else 0,
    }

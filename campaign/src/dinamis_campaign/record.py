"""What a campaign run did: the facts the invariants are checked against.

The driver fills a `CampaignRecord` as it goes (and saves it as JSON beside the report);
`invariants.check` reads it back with the stores and the topics. Nothing here is read from
the services' answers only: each expectation is what the run *sent*, so an invariant
compares what was asked with what the platform's stores and topics hold."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any


class Fate(StrEnum):
    """What the simulated supplier delivered for a cell."""

    GOOD = "good"  # a clean scene: archived, catalogued, the cell covered
    CLOUDY = "cloudy"  # a valid scene over the cloud limit: archived and catalogued, the cell re-tasked
    CORRUPT = "corrupt"  # a broken package (bad checksum): rejected with its reason, never archived


@dataclass
class DeliveredScene:
    scene_id: str
    cell: int
    fate: Fate
    collection: str  # the STAC collection it belongs in (spot-6 / spot-7 ...)
    ce_id: str  # the scene-acquired event's id
    announced_at: datetime


@dataclass
class PlacedOrder:
    order_id: str
    organisation_id: str
    user_id: str
    items: list[tuple[str, str]]  # (collection, item_id) ordered
    placed_at: datetime


@dataclass
class PlacedRequest:
    """An acquisition request the run submitted (and an operator approved): it debits the
    organisation's quota."""

    request_id: str
    organisation_id: str
    family: str
    period: str
    km2: float


@dataclass
class CampaignRecord:
    run_id: str  # unique per run
    campaign: str  # the coverage campaign, e.g. "france-2026"
    year: int
    started_at: datetime
    organisations: list[str] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # user_id -> e-mail
    scenes: dict[str, DeliveredScene] = field(default_factory=dict)  # by scene id
    orders: dict[str, PlacedOrder] = field(default_factory=dict)  # by order id
    requests: dict[str, PlacedRequest] = field(default_factory=dict)  # by request id
    # Bad inputs sent on purpose, by topic: the CloudEvents ids (or, for records that are not
    # events at all, the record keys) — the only records the dead-letter topics may hold.
    deliberate_dead_letters: dict[str, list[str]] = field(default_factory=dict)
    # The end offsets of every topic (dead-letter topics included) when the run started:
    # the invariants read only what came after.
    start_offsets: dict[str, dict[int, int]] = field(default_factory=dict)
    # The consumer groups whose lag must come back to 0.
    groups: list[str] = field(default_factory=list)

    def cells_covered(self) -> dict[int, str]:
        """Each cell's last good scene."""
        out: dict[int, str] = {}
        for s in sorted(self.scenes.values(), key=lambda s: s.announced_at):
            if s.fate is Fate.GOOD:
                out[s.cell] = s.scene_id
        return out

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), default=_default, indent=1))

    @classmethod
    def load(cls, path: Path) -> CampaignRecord:
        raw: dict[str, Any] = json.loads(path.read_text())
        raw["started_at"] = datetime.fromisoformat(raw["started_at"])
        raw["scenes"] = {
            k: DeliveredScene(
                **{**v, "fate": Fate(v["fate"]), "announced_at": datetime.fromisoformat(v["announced_at"])}
            )
            for k, v in raw["scenes"].items()
        }
        raw["orders"] = {
            k: PlacedOrder(
                **{
                    **v,
                    "items": [tuple(i) for i in v["items"]],
                    "placed_at": datetime.fromisoformat(v["placed_at"]),
                }
            )
            for k, v in raw["orders"].items()
        }
        raw["requests"] = {k: PlacedRequest(**v) for k, v in raw["requests"].items()}
        raw["start_offsets"] = {
            t: {int(p): o for p, o in parts.items()} for t, parts in raw["start_offsets"].items()
        }
        return cls(**raw)


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value))

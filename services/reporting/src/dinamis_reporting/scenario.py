"""A small scripted scenario of platform events (organisations, users, requests, scenes,
orders, downloads, quotas) for the indicators' tests: the unit tests (through the writer,
an in-memory store and the lake) and the integration test (on the real bus). Its
expected indicators are computed by hand in the tests, never by this module.

`scenario(prefix, year)`: every identifier starts with `prefix` (the integration test's
events share the topics with other tests) and the activity runs over `year` and
`year + 1`. Events come as (event, ce_time, event id) in a deliberately shuffled order
(quota entries out of sequence, an update before its request): the indicators depend
on the events' own times and ranks, never on their order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from dinamis_shared import events as ev

# Personal data the events carry and no output may show (checked by the tests).
PERSONAL = (
    "jeanne.dupont@example.fr",
    "Jeanne Dupont",
    "paul.martin@example.fr",
    "Paul Martin",
    "operateur@dinamis.example.fr",
    "Opératrice DINAMIS",
)


@dataclass(frozen=True)
class Scripted:
    event: ev.Event
    time: datetime
    event_id: str


def cell_centre(number: int, grid_file: Path) -> tuple[float, float]:
    """The mean of a grid cell's corners (lon, lat): inside the cell."""
    doc = _grid(str(grid_file))
    for feature in doc["features"]:
        if int(feature["properties"]["maille"]) == number:
            ring = feature["geometry"]["coordinates"][0][:-1]
            return sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)
    raise KeyError(number)


@lru_cache(maxsize=2)
def _grid(path: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return doc


def box(lon: float, lat: float, half: float = 0.05) -> dict[str, Any]:
    """A lon/lat box of `2 * half` degrees centred on (lon, lat)."""
    x0, y0, x1, y1 = lon - half, lat - half, lon + half, lat + half
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


# The coverage cells the scenario's campaign scenes fall in.
CELL_PUBLISHED_1, CELL_ACQUIRED_ONLY, CELL_PUBLISHED_2 = 100, 101, 150


def scenario(prefix: str, year: int, grid_file: Path) -> list[Scripted]:
    y0, y1 = year, year + 1
    p = prefix

    def t(y: int, month: int, day: int, hour: int = 0) -> datetime:
        return datetime(y, month, day, hour, tzinfo=UTC)

    out: list[Scripted] = []
    n = 0

    def add(event: ev.Event, when: datetime) -> None:
        nonlocal n
        n += 1
        out.append(Scripted(event, when, f"{p}ev-{n:03d}"))

    # --- organisations ------------------------------------------------------------
    def org(oid: str, rev: int, cat: str, status: str, dep: str | None, when: datetime) -> None:
        add(
            ev.OrganisationChangedV1(
                organisation_id=f"{p}{oid}",
                revision=rev,
                name=f"Organisation {oid} de test",
                category=ev.OrganisationCategory(cat),
                status=ev.OrganisationStatus(status),
                department=dep,
                changed_by=f"{p}operator",
                changed_at=when,
            ),
            when,
        )

    org("A", 1, "french-public", "pending", "75", t(y0, 1, 10))
    org("A", 2, "french-public", "active", "75", t(y0, 2, 1))
    org("B", 1, "french-public", "active", "69", t(y0, 3, 1))
    org("C", 2, "french-research", "suspended", "31", t(y1, 3, 1))  # before its rev 1: order is no matter
    org("C", 1, "french-research", "active", "31", t(y0, 6, 1))
    org("D", 1, "french-public", "active", "13", t(y1, 1, 15))
    org("E", 1, "contractor", "active", "33", t(y0, 4, 1))
    org("E", 2, "contractor", "expired", "33", t(y0, 12, 31))
    org("F", 1, "french-private-rd", "pending", "35", t(y1, 2, 1))

    # --- users ------------------------------------------------------------------------
    def user(uid: str, rev: int, oid: str, active: bool, when: datetime, who: int = 0) -> None:
        email, name = [(f"{uid}@example.org", f"User {uid}"), PERSONAL[0:2], PERSONAL[2:4]][who]
        add(
            ev.UserChangedV1(
                user_id=f"{p}user-{uid}",
                revision=rev,
                organisation_id=f"{p}{oid}",
                email=email,
                display_name=name,
                roles=["member"],
                active=active,
                changed_by=f"{p}operator",
                changed_at=when,
            ),
            when,
        )

    user("u1", 1, "A", True, t(y0, 2, 2), who=1)
    user("u2", 1, "A", True, t(y0, 5, 1), who=2)
    user("u2", 2, "A", False, t(y1, 6, 1), who=2)
    user("u3", 1, "B", True, t(y1, 1, 10))
    user("u4", 1, "C", False, t(y0, 6, 2))
    user("u4", 2, "C", True, t(y0, 7, 1))
    user("u5", 1, "D", True, t(y1, 2, 1))
    user("u6", 1, "B", True, t(y0, 3, 5))
    # A DINAMIS operator (a user of the platform's own organisation): never counted as a member.
    add(
        ev.UserChangedV1(
            user_id=f"{p}user-staff",
            revision=1,
            organisation_id="dinamis",
            email="operateur@dinamis.example.fr",
            display_name="Opératrice DINAMIS",
            roles=["operator"],
            active=True,
            changed_by="bootstrap",
            changed_at=t(y0, 1, 3),
        ),
        t(y0, 1, 3),
    )

    # --- acquisition requests -------------------------------------------------------
    aoi = box(2.35, 48.85)
    window = ev.AcquisitionWindow(start=t(y0, 1, 1), end=t(y1 + 1, 1, 1))

    def submitted(rid: str, oid: str, kind: str, family: str, km2: float, when: datetime) -> None:
        add(
            ev.RequestSubmittedV1(
                request_id=f"{p}{rid}",
                organisation_id=f"{p}{oid}",
                submitted_by=f"{p}user-u1",
                kind=ev.RequestKind(kind),
                sensor_family=family,  # type: ignore[arg-type]
                aoi=ev.GeoJSONGeometry(**aoi),
                area_km2=km2,
                window=window,
                submitted_at=when,
            ),
            when,
        )

    def approved(
        rid: str, oid: str, kind: str, family: str, km2: float, quota: float, cofin: float, when: datetime
    ) -> None:
        add(
            ev.RequestApprovedV1(
                request_id=f"{p}{rid}",
                organisation_id=f"{p}{oid}",
                approved_by=f"{p}operator",
                kind=ev.RequestKind(kind),
                sensor_family=family,  # type: ignore[arg-type]
                aoi=ev.GeoJSONGeometry(**aoi),
                area_km2=km2,
                quota_period=str(when.year),
                reserved_km2=quota,
                cofinanced_km2=cofin,
                window=window,
                approved_at=when,
            ),
            when,
        )

    def rejected(rid: str, oid: str, reason: str, when: datetime) -> None:
        add(
            ev.RequestRejectedV1(
                request_id=f"{p}{rid}",
                organisation_id=f"{p}{oid}",
                rejected_by=f"{p}operator",
                reason=reason,
                rejected_at=when,
            ),
            when,
        )

    def updated(rid: str, oid: str, status: str, share: float | None, when: datetime) -> None:
        add(
            ev.RequestUpdatedV1(
                request_id=f"{p}{rid}",
                organisation_id=f"{p}{oid}",
                submitted_by=f"{p}user-u1",
                status=ev.RequestStatus(status),
                changed_by=f"{p}operator",
                changed_at=when,
                covered_share=share,
            ),
            when,
        )

    updated("R1", "A", "fulfilled", 0.8, t(y0, 3, 23))  # before the rest: order is no matter
    submitted("R1", "A", "tasking", "pleiades-neo", 100, t(y0, 3, 1))
    approved("R1", "A", "tasking", "pleiades-neo", 90, 90, 0, t(y0, 3, 3))
    updated("R1", "A", "in_progress", 0.5, t(y0, 3, 14))
    submitted("R2", "B", "archive", "pleiades", 50, t(y0, 4, 1))
    approved("R2", "B", "archive", "pleiades", 50, 20, 30, t(y0, 4, 5))
    submitted("R3", "C", "tasking", "pleiades-neo", 40, t(y0, 5, 1))
    rejected("R3", "C", "Quota insuffisant pour la période — Jeanne Dupont", t(y0, 5, 2, 12))
    submitted("R7", "E", "tasking", "pleiades", 25, t(y0, 9, 1))
    rejected("R7", "E", "Demande hors périmètre du dispositif", t(y0, 9, 4))
    submitted("R4", "D", "tasking", "spot-6-7", 200, t(y1, 2, 1))
    approved("R4", "D", "tasking", "spot-6-7", 200, 0, 200, t(y1, 2, 11))
    updated("R4", "D", "fulfilled", 1.0, t(y1, 3, 1))
    submitted("R5", "A", "archive", "pleiades", 10, t(y1, 3, 1))
    rejected(
        "R5",
        "A",
        "la zone est déjà couverte par des scènes du catalogue, proposées à la place"
        " / the area is already covered by catalogue scenes, proposed instead",
        t(y1, 3, 3),
    )
    submitted("R6", "B", "archive", "pleiades-neo", 30, t(y1, 4, 1))

    # --- scenes -----------------------------------------------------------------------
    def acquired(
        sid: str, mission: str, ref: str, when: datetime, *, campaign: str | None, rid: str | None
    ) -> None:
        add(
            ev.SceneAcquiredV1(
                scene_id=f"{p}{sid}",
                supplier="airbus",
                mission=mission,
                supplier_product_id=ref,
                staging=ev.StagingLocation(prefix=f"airbus/{p}{sid}/"),
                acquisition_request_id=f"{p}{rid}" if rid else None,
                campaign=campaign,
                delivered_at=when,
            ),
            when,
        )

    def ingested(
        sid: str, collection: str, platform: str, geometry: dict[str, Any], cloud: float, when: datetime,
        rid: str | None = None,
    ) -> None:  # fmt: skip
        item = {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": f"{p}{sid}",
            "collection": collection,
            "geometry": geometry,
            "bbox": [0, 0, 0, 0],
            "properties": {"datetime": when.isoformat(), "platform": platform, "eo:cloud_cover": cloud},
            "links": [],
            "assets": {},
        }
        add(
            ev.SceneIngestedV1(
                scene_id=f"{p}{sid}",
                version=1,
                collection=collection,
                item=item,
                archive_prefix=f"{collection}/{p}{sid}/",
                manifest_sha256="0" * 64,
                acquisition_request_id=f"{p}{rid}" if rid else None,
            ),
            when,
        )

    campaign = f"france-{y0}"
    coverage = f"spot-6-7-{campaign}"
    c1 = cell_centre(CELL_PUBLISHED_1, grid_file)
    c3 = cell_centre(CELL_PUBLISHED_2, grid_file)
    ingested("S1", "pleiades-neo-tasking", "pleiades-neo-4", box(2.35, 48.85), 1.0, t(y0, 3, 13), rid="R1")
    acquired("S2", "SPOT6", f"{y0}{CELL_PUBLISHED_1:05d}", t(y0, 5, 10), campaign=campaign, rid=None)
    ingested("S2", coverage, "spot-6", box(*c1, half=0.2), 3.5, t(y0, 5, 12))
    acquired("S3", "SPOT7", f"{y0}{CELL_ACQUIRED_ONLY:05d}", t(y0, 6, 1), campaign=campaign, rid=None)
    acquired("S4", "SPOT6", f"{y0}{CELL_PUBLISHED_2:05d}", t(y0, 7, 1), campaign=campaign, rid=None)
    ingested("S4", coverage, "spot-6", box(*c3, half=0.2), 10.0, t(y0, 7, 3))
    acquired("S5", "SPOT7", "ref-s5", t(y1, 2, 20), campaign=None, rid="R4")
    ingested("S5", "spot-6-7-tasking", "spot-7", box(5.0, 45.0, half=0.1), 0.0, t(y1, 2, 21), rid="R4")
    ingested("S6", "pleiades-archive", "pleiades-1a", box(-1.5, 47.2), 20.0, t(y1, 1, 5))

    # --- orders, products, downloads --------------------------------------------------
    footprints = {"S1": box(2.35, 48.85), "S2": box(*c1, half=0.2), "S4": box(*c3, half=0.2),
                  "S5": box(5.0, 45.0, half=0.1)}  # fmt: skip
    collections = {"S1": "pleiades-neo-tasking", "S2": coverage, "S4": coverage, "S5": "spot-6-7-tasking"}

    def order(oid: str, org_id: str, products: list[tuple[str, str]], when: datetime) -> None:
        add(
            ev.DeliveryRequestedV1(
                order_id=f"{p}{oid}",
                organisation_id=f"{p}{org_id}",
                user_id=f"{p}user-u1",
                products=[
                    ev.ProductSpec(product_id=f"{p}{pid}", collection=collections[sid], item_id=f"{p}{sid}")
                    for pid, sid in products
                ],
                requested_at=when,
            ),
            when,
        )

    def ready(oid: str, org_id: str, pid: str, sid: str, when: datetime) -> None:
        add(
            ev.ProductReadyV1(
                order_id=f"{p}{oid}",
                product_id=f"{p}{pid}",
                organisation_id=f"{p}{org_id}",
                user_id=f"{p}user-u1",
                item_id=f"{p}{sid}",
                object_key=f"{p}{oid}/{pid}.tif",
                size_bytes=1000,
                sha256="1" * 64,
                crs="EPSG:2154",
                footprint=ev.GeoJSONGeometry(**footprints[sid]),
                expires_at=t(y1 + 1, 1, 1),
            ),
            when,
        )

    def downloaded(oid: str, org_id: str, pid: str, sid: str, when: datetime) -> None:
        add(
            ev.ProductDownloadedV1(
                product_id=f"{p}{pid}",
                order_id=f"{p}{oid}",
                organisation_id=f"{p}{org_id}",
                user_id=f"{p}user-u2",
                item_id=f"{p}{sid}",
                collection=collections[sid],
                size_bytes=1000,
                downloaded_at=when,
            ),
            when,
        )

    order("O1", "A", [("P1", "S1"), ("P2", "S2")], t(y0, 4, 10))
    order("O2", "B", [("P3", "S2"), ("P4", "S4")], t(y0, 5, 20))
    order("O3", "C", [("P5", "S2")], t(y0, 6, 15))
    order("O4", "D", [("P6", "S5")], t(y1, 3, 5))
    order("O5", "A", [("P7", "S5")], t(y1, 3, 10))
    order("O6", "B", [("P8", "S1")], t(y1, 4, 10))
    for oid, org_id, pid, sid, when in (
        ("O1", "A", "P1", "S1", t(y0, 4, 11)),
        ("O1", "A", "P2", "S2", t(y0, 4, 11)),
        ("O2", "B", "P3", "S2", t(y0, 5, 21)),
        ("O2", "B", "P4", "S4", t(y0, 5, 21)),
        ("O3", "C", "P5", "S2", t(y0, 6, 16)),
        ("O4", "D", "P6", "S5", t(y1, 3, 6)),
        ("O6", "B", "P8", "S1", t(y1, 4, 11)),
    ):
        ready(oid, org_id, pid, sid, when)
    for oid, org_id, pid, sid, day in (
        ("O1", "A", "P1", "S1", 12),
        ("O1", "A", "P1", "S1", 13),
        ("O1", "A", "P2", "S2", 14),
        ("O2", "B", "P3", "S2", 22),
        ("O4", "D", "P6", "S5", 7),
        ("O4", "D", "P6", "S5", 8),
        ("O4", "D", "P6", "S5", 9),
        ("O6", "B", "P8", "S1", 12),
    ):
        month = {"O1": 4, "O2": 5, "O4": 3, "O6": 4}[oid]
        downloaded(oid, org_id, pid, sid, t(y0 if oid in ("O1", "O2") else y1, month, day))

    # --- quota ledgers (entries out of sequence on purpose) --------------------------
    def quota(
        oid: str, family: str, period: str, seq: int, movement: str, km2: float,
        alloc: float, res: float, cons: float, when: datetime,
    ) -> None:  # fmt: skip
        add(
            ev.QuotaChangedV1(
                organisation_id=f"{p}{oid}",
                sensor_family=family,  # type: ignore[arg-type]
                period=period,
                seq=seq,
                movement=ev.QuotaMovement(movement),
                km2=km2,
                allocated_km2=alloc,
                reserved_km2=res,
                consumed_km2=cons,
                changed_by=f"{p}operator",
                changed_at=when,
            ),
            when,
        )

    quota("A", "pleiades-neo", f"{y0}-Q1", 1, "allocate", 200, 200, 0, 0, t(y0, 1, 2))
    quota("A", "pleiades-neo", f"{y0}-Q1", 3, "consume", 72, 200, 0, 72, t(y0, 3, 23))
    quota("A", "pleiades-neo", f"{y0}-Q1", 2, "reserve", 90, 200, 90, 0, t(y0, 3, 3))
    quota("B", "pleiades", f"{y0}", 1, "allocate", 100, 100, 0, 0, t(y0, 3, 2))
    quota("B", "pleiades", f"{y0}", 2, "reserve", 20, 100, 20, 0, t(y0, 4, 5))
    quota("C", "pleiades-neo", f"{y0}-Q2", 1, "allocate", 50, 50, 0, 0, t(y0, 6, 2))
    quota("D", "spot-6-7", f"{y1}", 1, "allocate", 300, 300, 0, 0, t(y1, 1, 16))
    quota("D", "spot-6-7", f"{y1}", 2, "adjust", -50, 250, 0, 0, t(y1, 1, 20))
    return out

"""The satellites DINAMIS buys from, in one table: whatever a service needs to know
about a mission (its quota family, its STAC platform, its DIMAP identification, its
resolutions and bands) is read from `MISSIONS`, never written again elsewhere.

Sources: Airbus DIMAP v2 deliveries (MISSION / MISSION_INDEX, band ids), the STAC
`sat` extension (COSPAR international designators) and the sensors' specifications
(ground sampling distances at nadir, swath widths).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Mission(StrEnum):
    """Satellites whose products DINAMIS buys (supplier mission codes)."""

    PHR1A = "PHR1A"
    PHR1B = "PHR1B"
    PNEO3 = "PNEO3"
    PNEO4 = "PNEO4"
    SPOT6 = "SPOT6"
    SPOT7 = "SPOT7"


class SensorFamily(StrEnum):
    """Quota families: quotas and prices are kept per family, not per satellite."""

    PLEIADES = "pleiades"
    PLEIADES_NEO = "pleiades-neo"
    SPOT = "spot-6-7"


@dataclass(frozen=True)
class MissionInfo:
    code: Mission
    family: SensorFamily
    platform: str  # STAC `platform`
    constellation: str  # STAC `constellation`
    cospar_id: str  # STAC `sat:platform_international_designator`
    dimap_mission: str  # DIMAP <MISSION>
    dimap_index: str  # DIMAP <MISSION_INDEX>
    instrument: str  # DIMAP <INSTRUMENT>
    pan_gsd_m: float
    ms_gsd_m: float
    ms_bands: tuple[str, ...]  # DIMAP band ids of the multispectral image
    swath_m: float  # width of one scene at nadir


_PHR_BANDS = ("B0", "B1", "B2", "B3")
_PNEO_BANDS = ("R", "G", "B", "NIR", "RE", "DB")


def _family(
    family: SensorFamily,
    constellation: str,
    instrument: str,
    gsd: tuple[float, float],
    bands: tuple[str, ...],
    swath_m: float,
) -> Callable[[Mission, str, str, str], MissionInfo]:
    """Rows of one family's satellites, which differ only by name, index and COSPAR id."""

    def row(code: Mission, index: str, platform: str, cospar: str) -> MissionInfo:
        return MissionInfo(
            code=code,
            family=family,
            platform=platform,
            constellation=constellation,
            cospar_id=cospar,
            dimap_mission=instrument,
            dimap_index=index,
            instrument=instrument,
            pan_gsd_m=gsd[0],
            ms_gsd_m=gsd[1],
            ms_bands=bands,
            swath_m=swath_m,
        )

    return row


_pleiades = _family(SensorFamily.PLEIADES, "pleiades", "PHR", (0.5, 2.0), _PHR_BANDS, 20_000.0)
_pleiades_neo = _family(SensorFamily.PLEIADES_NEO, "pleiades-neo", "PNEO", (0.3, 1.2), _PNEO_BANDS, 14_000.0)
_spot = _family(SensorFamily.SPOT, "spot", "SPOT", (1.5, 6.0), _PHR_BANDS, 60_000.0)

MISSIONS: dict[Mission, MissionInfo] = {
    m.code: m
    for m in (
        _pleiades(Mission.PHR1A, "1A", "pleiades-1a", "2011-076F"),
        _pleiades(Mission.PHR1B, "1B", "pleiades-1b", "2012-068A"),
        _pleiades_neo(Mission.PNEO3, "3", "pleiades-neo-3", "2021-034A"),
        _pleiades_neo(Mission.PNEO4, "4", "pleiades-neo-4", "2021-073E"),
        _spot(Mission.SPOT6, "6", "spot-6", "2012-047A"),
        _spot(Mission.SPOT7, "7", "spot-7", "2014-034A"),
    )
}

# DIMAP (MISSION, MISSION_INDEX), upper case -> mission.
BY_DIMAP: dict[tuple[str, str], MissionInfo] = {
    (m.dimap_mission, m.dimap_index): m for m in MISSIONS.values()
}


def mission_info(mission: Mission | str) -> MissionInfo:
    """The table's row for a mission code (`KeyError`/`ValueError` for an unknown one)."""
    return MISSIONS[Mission(mission)]


def by_dimap(mission: str, index: str) -> MissionInfo | None:
    """The mission a DIMAP file names by MISSION and MISSION_INDEX (any case), if known."""
    return BY_DIMAP.get((mission.upper(), index.upper()))


def family_of(mission: Mission | str) -> SensorFamily:
    return mission_info(mission).family

"""The mission table: one row per mission code, and what the other modules derive from it."""

from __future__ import annotations

import pytest

from dinamis_shared.events import MISSION_FAMILY, Mission, SensorFamily
from dinamis_shared.missions import MISSIONS, by_dimap, family_of, mission_info


def test_every_mission_has_exactly_one_row() -> None:
    assert set(MISSIONS) == set(Mission)
    assert all(code is row.code for code, row in MISSIONS.items())


def test_family_map_is_derived_from_the_table() -> None:
    assert MISSION_FAMILY == {
        Mission.PHR1A: SensorFamily.PLEIADES,
        Mission.PHR1B: SensorFamily.PLEIADES,
        Mission.PNEO3: SensorFamily.PLEIADES_NEO,
        Mission.PNEO4: SensorFamily.PLEIADES_NEO,
        Mission.SPOT6: SensorFamily.SPOT,
        Mission.SPOT7: SensorFamily.SPOT,
    }
    assert family_of("SPOT7") is SensorFamily.SPOT


def test_dimap_identification_is_unique_and_case_insensitive() -> None:
    pairs = [(m.dimap_mission, m.dimap_index) for m in MISSIONS.values()]
    assert len(set(pairs)) == len(pairs)
    found = by_dimap("phr", "1b")
    assert found is not None and found.code is Mission.PHR1B
    assert by_dimap("SPOT", "5") is None


@pytest.mark.parametrize(
    ("code", "platform", "constellation", "cospar"),
    [
        ("PHR1A", "pleiades-1a", "pleiades", "2011-076F"),
        ("PNEO4", "pleiades-neo-4", "pleiades-neo", "2021-073E"),
        ("SPOT6", "spot-6", "spot", "2012-047A"),
    ],
)
def test_stac_identification(code: str, platform: str, constellation: str, cospar: str) -> None:
    row = mission_info(code)
    assert (row.platform, row.constellation, row.cospar_id) == (platform, constellation, cospar)


def test_resolutions_and_bands() -> None:
    for row in MISSIONS.values():
        assert 0 < row.pan_gsd_m < row.ms_gsd_m
        assert row.ms_gsd_m / row.pan_gsd_m == 4
    assert mission_info(Mission.PNEO3).ms_bands == ("R", "G", "B", "NIR", "RE", "DB")
    assert mission_info(Mission.SPOT7).ms_bands == ("B0", "B1", "B2", "B3")
    with pytest.raises(ValueError):
        mission_info("SPOT5")

from datetime import UTC, datetime

from dinamis_sim.coverage import coverage_cells, france_outline_l93


def test_yearly_coverage_is_about_240_cells_over_france_from_april_to_september():
    cells = coverage_cells(2026)
    assert 230 <= len(cells) <= 250
    assert all(-5.5 < c.lon < 10 and 41 < c.lat < 51.5 for c in cells)
    assert min(c.acquired_at for c in cells) >= datetime(2026, 4, 1, tzinfo=UTC)
    assert max(c.acquired_at for c in cells) < datetime(2026, 10, 1, tzinfo=UTC)
    assert len({(round(c.lon, 4), round(c.lat, 4)) for c in cells}) == len(cells)


def test_outline_is_metropolitan_france():
    area_km2 = france_outline_l93().area / 1e6
    assert 540_000 < area_km2 < 555_000  # about 549,000 km² for the simplified outline

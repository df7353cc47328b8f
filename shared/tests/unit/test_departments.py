"""The department -> region table (INSEE COG 2024)."""

from dinamis_shared.departments import DEPARTMENT_REGION, DEPARTMENTS, REGIONS, region_of

METRO = [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"]


def test_every_metropolitan_and_overseas_department_has_a_region() -> None:
    assert len(METRO) == 96
    for code in [*METRO, "971", "972", "973", "974", "976"]:
        assert code in DEPARTMENTS
        assert DEPARTMENT_REGION[code] in REGIONS


def test_known_departments_and_regions() -> None:
    assert region_of("75") == "11"  # Paris, Île-de-France
    assert region_of("69") == "84"  # Rhône, Auvergne-Rhône-Alpes
    assert region_of("2A") == "94" and region_of("2B") == "94"  # Corse
    assert region_of("31") == "76"  # Haute-Garonne, Occitanie
    assert region_of("90") == "27"  # Territoire de Belfort
    assert region_of("974") == "04" and region_of("976") == "06"  # overseas regions of their own


def test_collectivities_and_unknowns_have_no_region() -> None:
    for code in ("975", "977", "978", "986", "987", "988"):
        assert code in DEPARTMENTS
        assert region_of(code) is None
    assert region_of(None) is None
    assert region_of("20") is None


def test_region_sizes() -> None:
    sizes: dict[str, int] = {}
    for region in DEPARTMENT_REGION.values():
        sizes[region] = sizes.get(region, 0) + 1
    # 13 metropolitan regions (96 departments) and 5 overseas ones (1 each).
    assert sizes == {
        "01": 1, "02": 1, "03": 1, "04": 1, "06": 1,
        "11": 8, "24": 6, "27": 8, "28": 5, "32": 5, "44": 10, "52": 5,
        "53": 4, "75": 12, "76": 13, "84": 12, "93": 6, "94": 2,
    }  # fmt: skip
    assert set(DEPARTMENT_REGION) <= set(DEPARTMENTS)

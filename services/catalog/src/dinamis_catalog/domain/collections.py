"""The catalogue's collections, from configuration: one per mission family and
processing level, one per yearly metropolitan coverage, and partner collections
that link out (what partners offer, beside what DINAMIS holds)."""

from __future__ import annotations

from dinamis_shared.events import SensorFamily

FAMILIES = {
    SensorFamily.SPOT: ("SPOT 6/7", ["spot-6", "spot-7"], 1.5, "2012-09-09"),
    SensorFamily.PLEIADES: ("Pléiades 1A/1B", ["pleiades-1a", "pleiades-1b"], 0.5, "2011-12-17"),
    SensorFamily.PLEIADES_NEO: ("Pléiades Neo 3/4", ["pleiades-neo-3", "pleiades-neo-4"], 0.3, "2021-04-28"),
}
LEVELS = {
    "ortho": "orthorectified (ORTHO)",
    "sensor": "sensor geometry with RPC (SENSOR/PRIMARY)",
    "projected": "projected (PROJECTED)",
}
LICENCE_LINK = {
    "rel": "license",
    "href": "https://dinamis.data-terra.org/conditions-dutilisation/",
    "title": "Licence DINAMIS (accès réservé aux adhérents) / DINAMIS licence (members only)",
}
PROVIDERS = [
    {
        "name": "Airbus Defence and Space",
        "roles": ["producer", "licensor"],
        "url": "https://www.intelligence-airbusds.com",
    },
    {
        "name": "DINAMIS (CNES, CNRS, IGN, INRAE, IRD, CIRAD)",
        "roles": ["host", "processor"],
        "url": "https://dinamis.data-terra.org",
    },
]
WORLD = [[-180.0, -90.0, 180.0, 90.0]]
FRANCE = [[-5.2, 41.3, 9.6, 51.1]]


def _collection(
    cid: str,
    title: str,
    description: str,
    bbox: list,
    start: str,
    platforms: list[str],
    gsd: float,
    keywords: list[str],
) -> dict:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": cid,
        "title": title,
        "description": description,
        "license": "other",
        "keywords": keywords,
        "providers": PROVIDERS,
        "extent": {"spatial": {"bbox": bbox}, "temporal": {"interval": [[f"{start}T00:00:00Z", None]]}},
        "summaries": {"platform": platforms, "gsd": [gsd]},
        "links": [LICENCE_LINK],
    }


def dinamis_collections(coverage_years: list[int]) -> list[dict]:
    out = []
    for family, (name, platforms, gsd, start) in FAMILIES.items():
        for level, level_text in LEVELS.items():
            out.append(
                _collection(
                    f"{family.value}-{level}",
                    f"{name} — {level_text}",
                    f"Scènes {name} acquises par DINAMIS, {level_text}. / {name} scenes bought by DINAMIS, {level_text}.",
                    WORLD,
                    start,
                    platforms,
                    gsd,
                    ["dinamis", family.value, level],
                )
            )
    for year in coverage_years:
        out.append(
            _collection(
                f"spot-6-7-france-{year}",
                f"Couverture SPOT 6/7 {year} de la France métropolitaine",
                f"Couverture annuelle à 1,5 m de la France métropolitaine, acquise d'avril à septembre {year}. / "
                f"Yearly 1.5 m SPOT 6/7 coverage of metropolitan France, {year}.",
                FRANCE,
                f"{year}-04-01",
                ["spot-6", "spot-7"],
                1.5,
                ["dinamis", "spot-6-7", "coverage", str(year)],
            )
        )
    return out


def coverage_collection(collection_id: str) -> dict | None:
    """The definition of a coverage collection met for the first time in an event
    (a new campaign year), so indexing never waits for a configuration change."""
    prefix = "spot-6-7-france-"
    if collection_id.startswith(prefix) and collection_id[len(prefix) :].isdigit():
        return dinamis_collections([int(collection_id[len(prefix) :])])[-1]
    return None


def partner_collections() -> list[dict]:
    """External collections listed for discovery: they hold no items here and link out."""
    return [
        {
            "type": "Collection",
            "stac_version": "1.1.0",
            "id": "partner-theia-sentinel2-l2a",
            "title": "Sentinel-2 L2A (THEIA) — partenaire / partner",
            "description": "Réflectances de surface Sentinel-2 produites par le pôle THEIA (MAJA), à rechercher "
            "sur le catalogue THEIA. / Sentinel-2 surface reflectance by THEIA (MAJA), searched on THEIA's catalogue.",
            "license": "etalab-2.0",
            "keywords": ["partner", "sentinel-2", "theia", "l2a"],
            "providers": [
                {
                    "name": "THEIA / CNES",
                    "roles": ["producer", "processor", "host"],
                    "url": "https://www.theia-land.fr",
                }
            ],
            "extent": {
                "spatial": {"bbox": WORLD},
                "temporal": {"interval": [["2015-07-04T00:00:00Z", None]]},
            },
            "summaries": {"platform": ["sentinel-2a", "sentinel-2b", "sentinel-2c"], "gsd": [10.0]},
            "links": [
                {
                    "rel": "via",
                    "href": "https://catalogue.theia-land.fr/",
                    "type": "text/html",
                    "title": "Catalogue THEIA / THEIA catalogue",
                },
                {"rel": "license", "href": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"},
            ],
            "dinamis:partner": True,
        }
    ]


# Searchable properties with their JSON schema type: pgSTAC compares and sorts them
# as numbers (not text) and indexes the common filters: (schema, wrapper, index).
QUERYABLES: dict[str, tuple[dict, str, str | None]] = {
    "eo:cloud_cover": (
        {"type": "number", "minimum": 0, "maximum": 100, "title": "Cloud cover (%)"},
        "to_float",
        "BTREE",
    ),
    "eo:snow_cover": ({"type": "number", "minimum": 0, "maximum": 100}, "to_float", None),
    "view:incidence_angle": ({"type": "number", "minimum": 0, "maximum": 90}, "to_float", "BTREE"),
    "view:off_nadir": ({"type": "number", "minimum": 0, "maximum": 90}, "to_float", None),
    "view:sun_elevation": ({"type": "number", "minimum": -90, "maximum": 90}, "to_float", None),
    "view:sun_azimuth": ({"type": "number", "minimum": 0, "maximum": 360}, "to_float", None),
    "view:azimuth": ({"type": "number", "minimum": 0, "maximum": 360}, "to_float", None),
    "gsd": (
        {"type": "number", "exclusiveMinimum": 0, "title": "Ground sample distance (m)"},
        "to_float",
        None,
    ),
    "platform": (
        {"type": "string", "enum": [p for f in FAMILIES.values() for p in f[1]]},
        "to_text",
        "BTREE",
    ),
    "constellation": ({"type": "string", "enum": ["spot", "pleiades", "pleiades-neo"]}, "to_text", None),
    "processing:level": ({"type": "string"}, "to_text", None),
    "dinamis:version": ({"type": "integer", "minimum": 1}, "to_int", None),
}

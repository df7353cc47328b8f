"""The search form: its fields as the URL carries them (the search state is the URL:
shareable, and the back button works), checked, and turned into the catalogue's
`GET /search` parameters. Defaults are the widest search — every collection, every
date, any cloud cover, everywhere — and the page says so: no hidden filter."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import shapely
from shapely.geometry import shape as to_shape
from shapely.geometry.base import BaseGeometry
from starlette.datastructures import QueryParams

from dinamis_portal.aoi import codec
from dinamis_portal.aoi.parsers import AoiProblem
from dinamis_portal.aoi.review import SEARCH_MAX_KM2, as_geojson
from dinamis_portal.errors import bad_input
from dinamis_shared.aoi import InvalidAoi, covered_share, parse_aoi

COLLECTION = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}\Z")
PLATFORM = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}\Z")
PAGING_TOKEN = re.compile(r"^[A-Za-z0-9:_=.+/-]{1,300}\Z")
# Processing levels as the catalogue's items carry them (`processing:level`, from DIMAP).
LEVELS = ("ortho", "primary", "sensor", "projected")
FIELDS = ("collection", "mission", "niveau", "debut", "fin", "nuages", "incidence", "bbox", "zone", "entiere")
# A scene covers "all of my AOI" from this share up (rounding of the geodesic areas).
WHOLE_SHARE = 0.999


@dataclass(frozen=True)
class SearchForm:
    collection: str | None = None
    start: date | None = None
    end: date | None = None
    max_cloud: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    token: str | None = None
    platform: str | None = None
    max_incidence: float | None = None
    level: str | None = None
    zone: str | None = None  # the AOI's URL code (aoi.codec)
    zone_geometry: BaseGeometry | None = None
    whole: bool = False  # "couvre toute ma zone"

    @property
    def empty(self) -> bool:
        return not (
            self.collection
            or self.start
            or self.end
            or self.max_cloud is not None
            or self.bbox
            or self.platform
            or self.max_incidence is not None
            or self.level
            or self.zone
        )

    @property
    def aoi(self) -> BaseGeometry | None:
        """My area of interest: the zone drawn, pasted or uploaded, else the bbox."""
        if self.zone_geometry is not None:
            return self.zone_geometry
        if self.bbox:
            return shapely.box(*self.bbox)
        return None

    def filters(self) -> list[tuple[str, str, float | str]]:
        """The property filters as (property, operator, value)."""
        found: list[tuple[str, str, float | str]] = []
        if self.max_cloud is not None:
            found.append(("eo:cloud_cover", "<=", self.max_cloud))
        if self.max_incidence is not None:
            found.append(("view:incidence_angle", "<=", self.max_incidence))
        if self.platform:
            found.append(("platform", "=", self.platform))
        if self.level:
            found.append(("processing:level", "=", self.level))
        return found

    def catalogue_body(self, limit: int) -> dict[str, Any]:
        """The search as a `POST /search` body (an AOI polygon does not fit a URL to the
        catalogue): `intersects` and a CQL2 JSON filter."""
        body: dict[str, Any] = {
            "limit": limit,
            "sortby": [{"field": "properties.datetime", "direction": "desc"}],
        }
        if self.collection:
            body["collections"] = [self.collection]
        if self.start or self.end:
            start = f"{self.start.isoformat()}T00:00:00Z" if self.start else ".."
            end = f"{self.end.isoformat()}T23:59:59Z" if self.end else ".."
            body["datetime"] = f"{start}/{end}"
        aoi = self.aoi
        if aoi is not None:
            body["intersects"] = as_geojson(aoi)
        args = [{"op": op, "args": [{"property": name}, value]} for name, op, value in self.filters()]
        if args:
            body["filter"] = args[0] if len(args) == 1 else {"op": "and", "args": args}
            body["filter-lang"] = "cql2-json"
        if self.token:
            body["token"] = self.token
        return body

    def values(self) -> dict[str, str]:
        """The form's fields as the page shows them (and the URL carries them)."""
        return {
            "collection": self.collection or "",
            "debut": self.start.isoformat() if self.start else "",
            "fin": self.end.isoformat() if self.end else "",
            "nuages": _number(self.max_cloud) if self.max_cloud is not None else "",
            "bbox": ",".join(_number(v) for v in self.bbox) if self.bbox else "",
            "mission": self.platform or "",
            "incidence": _number(self.max_incidence) if self.max_incidence is not None else "",
            "niveau": self.level or "",
            "zone": self.zone or "",
            "entiere": "1" if self.whole else "",
        }

    def catalogue_params(self, limit: int) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = [("limit", str(limit)), ("sortby", "-properties.datetime")]
        if self.collection:
            params.append(("collections", self.collection))
        if self.start or self.end:
            start = f"{self.start.isoformat()}T00:00:00Z" if self.start else ".."
            end = f"{self.end.isoformat()}T23:59:59Z" if self.end else ".."
            params.append(("datetime", f"{start}/{end}"))
        if self.bbox:
            params.append(("bbox", ",".join(_number(v) for v in self.bbox)))
        clauses = [
            f"{name} {op} {_number(value) if isinstance(value, float) else repr(value)}"
            for name, op, value in self.filters()
        ]
        if clauses:
            params.append(("filter", " AND ".join(clauses)))
            params.append(("filter-lang", "cql2-text"))
        if self.token:
            params.append(("token", self.token))
        return params


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _date(raw: str, field_fr: str, field_en: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise bad_input(
            "invalid-date",
            f"{field_fr} : « {raw[:40]} » n'est pas une date (attendu : aaaa-mm-jj)",
            f"{field_en}: '{raw[:40]}' is not a date (expected yyyy-mm-dd)",
        ) from None


def _float(raw: str) -> float | None:
    try:
        value = float(raw.replace(",", ".")) if raw.count(",") <= 1 and "," in raw else float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse(query: QueryParams) -> SearchForm:
    """The form in the URL, checked; bad input is a 400 problem, French first."""
    collection = (query.get("collection") or "").strip() or None
    if collection and not COLLECTION.match(collection):
        raise bad_input(
            "invalid-collection",
            "collection : identifiant non valide (lettres minuscules, chiffres, tirets)",
            "collection: not a valid identifier (lowercase letters, digits, dashes)",
        )
    raw_start, raw_end = (query.get("debut") or "").strip(), (query.get("fin") or "").strip()
    start = _date(raw_start, "date de début", "start date") if raw_start else None
    end = _date(raw_end, "date de fin", "end date") if raw_end else None
    if start and end and end < start:
        raise bad_input(
            "invalid-date-range",
            "la date de fin précède la date de début",
            "the end date is before the start date",
        )
    max_cloud = None
    raw = (query.get("nuages") or "").strip()
    if raw:
        max_cloud = _float(raw)
        if max_cloud is None or not 0 <= max_cloud <= 100:
            raise bad_input(
                "invalid-cloud-cover",
                f"couverture nuageuse maximale : « {raw[:40]} » n'est pas un pourcentage entre 0 et 100",
                f"maximum cloud cover: '{raw[:40]}' is not a percentage between 0 and 100",
            )
    raw_bbox = (query.get("bbox") or "").strip()
    bbox = _bbox(raw_bbox) if raw_bbox else None
    token = (query.get("page") or "").strip() or None
    if token and not PAGING_TOKEN.match(token):
        raise bad_input("invalid-page", "page de résultats non valide", "not a valid result page")
    platform = (query.get("mission") or "").strip() or None
    if platform and not PLATFORM.match(platform):
        raise bad_input(
            "invalid-mission",
            "satellite : identifiant non valide (lettres minuscules, chiffres, tirets)",
            "satellite: not a valid identifier (lowercase letters, digits, dashes)",
        )
    level = (query.get("niveau") or "").strip() or None
    if level and level not in LEVELS:
        raise bad_input(
            "invalid-level",
            f"niveau de traitement : « {level[:40]} » inconnu (attendu : {', '.join(LEVELS)})",
            f"processing level: '{level[:40]}' unknown (expected: {', '.join(LEVELS)})",
        )
    max_incidence = None
    raw = (query.get("incidence") or "").strip()
    if raw:
        max_incidence = _float(raw)
        if max_incidence is None or not 0 <= max_incidence <= 90:
            raise bad_input(
                "invalid-incidence",
                f"angle d'incidence maximal : « {raw[:40]} » n'est pas un angle entre 0 et 90 degrés",
                f"maximum incidence angle: '{raw[:40]}' is not an angle between 0 and 90 degrees",
            )
    zone = (query.get("zone") or "").strip() or None
    zone_geometry = _zone(zone) if zone else None
    if zone and bbox:
        raise bad_input(
            "invalid-area",
            "deux zones données : une emprise (bbox) et une zone dessinée ou importée — gardez-en une",
            "two areas given: a bbox and a drawn or imported area — keep one",
        )
    whole = (query.get("entiere") or "").strip() in ("1", "on", "true")
    if whole and not (zone or bbox):
        raise bad_input(
            "invalid-whole-filter",
            "« couvre toute ma zone » demande une zone : dessinez, importez ou saisissez-en une",
            "“covers my whole area” needs an area: draw, import or type one",
        )
    return SearchForm(
        collection,
        start,
        end,
        max_cloud,
        bbox,
        token,
        platform=platform,
        max_incidence=max_incidence,
        level=level,
        zone=zone,
        zone_geometry=zone_geometry,
        whole=whole,
    )


def _zone(code: str) -> BaseGeometry:
    try:
        geometry = codec.decode(code)
        return parse_aoi(as_geojson(geometry), max_km2=SEARCH_MAX_KM2).geometry
    except AoiProblem as problem:
        raise bad_input(problem.code, problem.message_fr, problem.message) from None
    except InvalidAoi as exc:
        raise bad_input(exc.code, exc.message_fr or exc.message, exc.message) from None


def _bbox(raw: str) -> tuple[float, float, float, float]:
    parts = [p.strip() for p in raw.split(",")]
    values = [_float(p) for p in parts] if len(parts) == 4 else []
    if len(values) != 4 or any(v is None for v in values):
        raise bad_input(
            "invalid-bbox",
            "emprise : quatre nombres séparés par des virgules sont attendus (ouest,sud,est,nord)",
            "area: four comma-separated numbers are expected (west,south,east,north)",
        )
    west, south, east, north = (float(v) for v in values if v is not None)
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise bad_input(
            "invalid-bbox",
            "emprise : longitudes entre -180 et 180, latitudes entre -90 et 90 (degrés WGS 84)",
            "area: longitudes between -180 and 180, latitudes between -90 and 90 (WGS 84 degrees)",
        )
    if west >= east or south >= north:
        raise bad_input(
            "invalid-bbox",
            "emprise : l'ouest doit être inférieur à l'est et le sud au nord",
            "area: west must be less than east, and south less than north",
        )
    return (west, south, east, north)


@dataclass(frozen=True)
class ResultRow:
    id: str
    collection: str
    datetime: str
    cloud_cover: float | None
    platform: str
    thumbnail: str | None
    geometry: dict[str, Any] | None
    covered: float | None = None  # share (0..1) of my AOI this scene covers


def covered_of(aoi: BaseGeometry, footprint: dict[str, Any] | None) -> float | None:
    """The share of my AOI a scene's footprint covers: intersection area / AOI area, both
    geodesic (the WGS84 ellipsoid's true areas: what any equal-area projection gives)."""
    if not footprint:
        return None
    try:
        shape = to_shape(footprint)
    except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.GEOSException):
        return None
    return covered_share(aoi, [shape])


def result_rows(features: list[dict[str, Any]], aoi: BaseGeometry | None = None) -> list[ResultRow]:
    rows = []
    for feature in features:
        props = feature.get("properties") or {}
        thumb = next(
            (
                key
                for key, a in (feature.get("assets") or {}).items()
                if "thumbnail" in (a.get("roles") or [])
            ),
            None,
        ) or next(
            (key for key, a in (feature.get("assets") or {}).items() if "overview" in (a.get("roles") or [])),
            None,
        )
        rows.append(
            ResultRow(
                id=str(feature.get("id")),
                collection=str(feature.get("collection")),
                datetime=str(props.get("datetime") or props.get("start_datetime") or ""),
                cloud_cover=props.get("eo:cloud_cover"),
                platform=str(props.get("platform") or ""),
                thumbnail=thumb,
                geometry=feature.get("geometry"),
                covered=covered_of(aoi, feature.get("geometry")) if aoi is not None else None,
            )
        )
    return rows


def percent(share: float | None, lang: str) -> str:
    """A share as the page shows it: one decimal, rounded down near 100 so that 99.96 %
    is never shown as a full cover it is not."""
    if share is None:
        return ""
    value = math.floor(share * 1000) / 10
    shown = f"{value:.1f}".rstrip("0").rstrip(".")
    return (shown.replace(".", ",") + "\u00a0%") if lang == "fr" else f"{shown}%"


def footprints_json(rows: list[ResultRow]) -> str:
    """The results' footprints as GeoJSON for the map, safe inside a `<script
    type="application/geo+json">` data block (never executed: no `</script>` can close it)."""
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r.id,
                "geometry": rounded(r.geometry),
                "properties": {"collection": r.collection, "covered": r.covered},
            }
            for r in rows
            if r.geometry
        ],
    }
    return json_for_script(collection)


def rounded(geometry: dict[str, Any], digits: int = 6) -> dict[str, Any]:
    """A footprint for the map with its coordinates to 1e-6 degree (about 0.1 m): the page
    carries 50 of them, and 17 significant digits are weight, not precision."""

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        return round(value, digits) if isinstance(value, float) else value

    return (
        {**geometry, "coordinates": walk(geometry.get("coordinates"))}
        if "coordinates" in geometry
        else geometry
    )


def json_for_script(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")


def next_token(result: dict[str, Any]) -> str | None:
    """The paging token of the catalogue's `next` link, if any."""
    from urllib.parse import parse_qs, urlsplit

    for link in result.get("links") or []:
        if link.get("rel") == "next" and link.get("href"):
            token = parse_qs(urlsplit(link["href"]).query).get("token")
            if token:
                return token[0]
        if link.get("rel") == "next" and isinstance(link.get("body"), dict) and link["body"].get("token"):
            return str(link["body"]["token"])
    return None

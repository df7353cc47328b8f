"""The search form: the URL's fields, checked, and the catalogue parameters they give."""

from __future__ import annotations

import json
from datetime import date

import pytest
from starlette.datastructures import QueryParams

from dinamis_portal.errors import PortalError
from dinamis_portal.search import SearchForm, footprints_json, next_token, parse, result_rows


def test_an_empty_form_is_the_widest_search():
    form = parse(QueryParams(""))
    assert form == SearchForm() and form.empty
    assert form.catalogue_params(50) == [("limit", "50"), ("sortby", "-properties.datetime")]


def test_fields_round_trip_through_the_url():
    form = parse(
        QueryParams("collection=spot-6-7-france-2026&debut=2026-04-01&nuages=12,5&bbox=-1.5,43,2.25,44")
    )
    assert form.start == date(2026, 4, 1) and form.end is None and form.max_cloud == 12.5
    assert form.values() == {
        "collection": "spot-6-7-france-2026",
        "debut": "2026-04-01",
        "fin": "",
        "nuages": "12.5",
        "bbox": "-1.5,43,2.25,44",
        "mission": "",
        "incidence": "",
        "niveau": "",
        "zone": "",
        "entiere": "",
    }
    assert parse(QueryParams(form.values())) == form
    params = dict(form.catalogue_params(10))
    assert params["datetime"] == "2026-04-01T00:00:00Z/.."
    assert params["filter"] == "eo:cloud_cover <= 12.5"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("nuages=-1", "invalid-cloud-cover"),
        ("nuages=nan", "invalid-cloud-cover"),
        ("nuages=inf", "invalid-cloud-cover"),
        ("fin=hier", "invalid-date"),
        ("bbox=a,b,c,d", "invalid-bbox"),
        ("bbox=1,2,3,4,5", "invalid-bbox"),
        ("bbox=-200,40,0,41", "invalid-bbox"),
        ("collection=../../etc", "invalid-collection"),
        ("page=%3Cscript%3E", "invalid-page"),
    ],
)
def test_bad_fields_are_refused_in_french_first(query, code):
    with pytest.raises(PortalError) as refused:
        parse(QueryParams(query))
    assert refused.value.code == code and refused.value.http_status == 400
    assert refused.value.message_fr and refused.value.message_fr != refused.value.message


def test_footprints_cannot_close_their_data_block():
    rows = result_rows(
        [
            {
                "id": "</script><script>alert(1)</script>",
                "collection": "c",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [1, 2]},
                "assets": {},
            }
        ]
    )
    text = footprints_json(rows)
    assert "</script>" not in text and "<" not in text
    assert json.loads(text)["features"][0]["id"] == "</script><script>alert(1)</script>"


def test_thumbnail_then_overview_is_the_rows_picture():
    rows = result_rows(
        [
            {"id": "a", "collection": "c", "properties": {}, "assets": {"q": {"roles": ["overview"]}}},
            {
                "id": "b",
                "collection": "c",
                "properties": {},
                "assets": {"q": {"roles": ["overview"]}, "t": {"roles": ["thumbnail"]}},
            },
            {"id": "c", "collection": "c", "properties": {}, "assets": {"d": {"roles": ["data"]}}},
        ]
    )
    assert [r.thumbnail for r in rows] == ["q", "t", None]


def test_next_page_token_from_the_catalogues_links():
    assert (
        next_token({"links": [{"rel": "next", "href": "http://c/search?limit=50&token=next:abc"}]})
        == "next:abc"
    )
    assert (
        next_token({"links": [{"rel": "next", "href": "http://c/search", "body": {"token": "t2"}}]}) == "t2"
    )
    assert next_token({"links": [{"rel": "self", "href": "http://c/search"}]}) is None


def test_footprints_for_the_map_are_rounded_to_a_tenth_of_a_metre():
    from dinamis_portal.search import rounded

    ring = [
        [4.123456789012345, 45.98765432109876],
        [4.2, 45.9],
        [4.1, 45.8],
        [4.123456789012345, 45.98765432109876],
    ]
    out = rounded({"type": "Polygon", "coordinates": [ring]})
    assert out["coordinates"][0][0] == [4.123457, 45.987654] and out["type"] == "Polygon"
    assert rounded({"type": "GeometryCollection", "geometries": []}) == {
        "type": "GeometryCollection",
        "geometries": [],
    }

"""The STAC API's own checks and translations (no database: see
tests/integration/test_catalog_hostile.py for the running service)."""

import math

import pytest

from dinamis_catalog.entrypoints.stac_api import (
    InvalidBbox,
    InvalidGeometry,
    InvalidQuery,
    body_error,
    check_bbox,
    check_geometry,
    document_problems,
    query_to_cql2,
)


def test_every_query_operator_becomes_cql2():
    assert query_to_cql2({"eo:cloud_cover": {"lt": 10}}) == {
        "op": "<",
        "args": [{"property": "eo:cloud_cover"}, 10],
    }
    both = query_to_cql2({"platform": {"startsWith": "pl_a%"}, "gsd": {"gte": 1, "neq": 2}})
    assert both["op"] == "and" and len(both["args"]) == 3
    # LIKE's wildcards in the value are matched literally.
    assert both["args"][0] == {"op": "like", "args": [{"property": "platform"}, "pl\\_a\\%%"]}
    assert query_to_cql2({"p": {"endsWith": "x"}})["args"][1] == "%x"
    assert query_to_cql2({"p": {"contains": "x"}})["args"][1] == "%x%"
    inside = query_to_cql2({"instruments": {"in": ["pneo", "spot"]}})
    assert inside["op"] == "or" and [a["op"] for a in inside["args"]] == ["in", "a_overlaps"]
    assert query_to_cql2({"platform": "spot-6"}) == {"op": "=", "args": [{"property": "platform"}, "spot-6"]}


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"": {"eq": 1}},
        {" ": {"eq": 1}},
        {"p": {}},
        {"p": {"like": "x"}},
        {"p": {"startsWith": 1}},
        {"p": {"in": []}},
        {"p": {"in": "x"}},
        {"p": {"in": [{"a": 1}]}},
        {"p": {"eq": [1]}},
        {"p": {"eq": math.nan}},
        {"p": {"lt": math.inf}},
    ],
)
def test_bad_queries_are_refused(query):
    with pytest.raises(InvalidQuery):
        query_to_cql2(query)


def test_non_finite_bbox_and_coordinates_are_refused():
    check_bbox([1, 2, 3, 4])
    check_bbox(None)
    for bad in ([math.nan, 1, 2, 3], [1, 2, math.inf, 4], [1, 2, "3", 4]):
        with pytest.raises(InvalidBbox):
            check_bbox(bad)
    check_geometry({"type": "Point", "coordinates": [1, 2]})
    with pytest.raises(InvalidGeometry):
        check_geometry({"type": "Polygon", "coordinates": [[[0, 0], [1, math.nan], [1, 1], [0, 0]]]})
    with pytest.raises(InvalidGeometry):
        check_geometry(
            {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [math.inf, 0]}]}
        )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[1]", "invalid-body"),
        (b"1", "invalid-body"),
        (b'"x"', "invalid-body"),
        (b"null", "invalid-body"),
        (b"{", "invalid-json"),
        (b"", "invalid-json"),
        (b'{"bbox": [NaN, 1, 2, 3]}', "invalid-json"),
        (b'{"limit": Infinity}', "invalid-json"),
        (b'{"limit": -Infinity}', "invalid-json"),
        (b"\xff\xfe", "invalid-json"),
        (b"[" * 100_000, "invalid-json"),
    ],
)
def test_search_bodies_must_be_json_objects_of_finite_numbers(body, code):
    error = body_error(body)
    assert error is not None and error.code == code and error.http_status == 400 and error.message_fr
    assert body_error(b'{"limit": 1}') is None


def test_openapi_error_responses_are_problems():
    schema = {
        "paths": {
            "/search": {
                "get": {
                    "responses": {"200": {"description": "ok"}, "422": {"description": "Validation Error"}}
                }
            }
        }
    }
    responses = document_problems(schema, "400")["paths"]["/search"]["get"]["responses"]
    assert "422" not in responses and {"400", "4XX", "5XX"} <= set(responses)
    for status in ("400", "4XX", "5XX"):
        assert list(responses[status]["content"]) == ["application/problem+json"]
    assert "content" not in responses["200"]
    assert "Problem" in schema["components"]["schemas"]


def test_openapi_documents_partial_objects_where_fields_apply():
    """Found by the OpenAPI fuzz test: `?fields=...` leaves out required properties, so the
    200 answer of an operation taking `fields` is documented without nested `required`."""
    from dinamis_catalog.entrypoints.stac_api import document_fields

    item = {"type": "object", "required": ["id", "geometry"], "properties": {"id": {"type": "string"}}}
    schema = {
        "components": {
            "schemas": {
                "Item": item,
                "ItemCollection": {
                    "type": "object",
                    "required": ["type", "features"],
                    "properties": {
                        "features": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}
                    },
                },
            }
        },
        "paths": {
            path: {
                "get": {
                    "parameters": [{"name": name, "in": "query"}],
                    "responses": {"200": {"content": {"application/geo+json": {"schema": {"$ref": ref}}}}},
                }
            }
            for path, name, ref in (
                ("/search", "fields", "#/components/schemas/ItemCollection"),
                ("/collections/{c}/items/{i}", "x", "#/components/schemas/Item"),
            )
        },
    }
    document_fields(schema)
    schemas = schema["components"]["schemas"]
    answer = schema["paths"]["/search"]["get"]["responses"]["200"]["content"]["application/geo+json"]
    assert answer["schema"] == {"$ref": "#/components/schemas/ItemCollectionFields"}
    assert schemas["ItemCollectionFields"]["required"] == ["type", "features"]
    assert schemas["ItemCollectionFields"]["properties"]["features"]["items"]["$ref"].endswith("/ItemPartial")
    assert "required" not in schemas["ItemPartial"]
    assert schemas["ItemPartial"]["properties"] == item["properties"]
    single = schema["paths"]["/collections/{c}/items/{i}"]["get"]["responses"]["200"]
    assert single["content"]["application/geo+json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    assert schemas["Item"]["required"] == ["id", "geometry"]


def test_fields_rules():
    from dinamis_catalog.entrypoints.stac_api import DEFAULT_FIELDS, effective_fields, normalise_search

    assert effective_fields(set(), set(), include_given=False) == (set(DEFAULT_FIELDS), set())
    assert effective_fields(set(), {"geometry"}, include_given=False) == (set(), {"geometry"})
    include, exclude = effective_fields(set(), {"geometry"}, include_given=True)
    assert "geometry" not in include and "assets" in include
    include, exclude = effective_fields({"properties.platform"}, {"properties"}, include_given=True)
    assert include == {"properties.platform", "type", "stac_version", "id"} and exclude == set()
    assert effective_fields({"geometry"}, {"geometry"}, include_given=True)[1] == set()
    assert normalise_search({"collections": "a", "ids": "b"}) == {"collections": ["a"], "ids": ["b"]}
    refused = normalise_search({"fields": None})
    assert not isinstance(refused, dict) and refused.code == "invalid-parameter"

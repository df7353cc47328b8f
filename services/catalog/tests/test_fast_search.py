"""The fast search path's planning (which searches it answers, with what SQL), its paging
tokens, and the item links it builds (the answers themselves are compared with pgSTAC's
`search()` in tests/integration/test_catalog_fast_search.py)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from urllib.parse import urljoin

import pytest

from dinamis_catalog.entrypoints.stac_api import item_links
from dinamis_catalog.service.fast_search import (
    MAX_WINDOWS,
    FastSearch,
    InvalidPagingToken,
    _Expiring,
    page_token,
    parse_token,
    plan,
)

BASE = {"collections": ["spot-6-7-ortho"], "limit": 100}


def test_a_map_search_is_one_query_with_its_values_as_parameters():
    planned = plan(
        {
            **BASE,
            "bbox": [2.0, 46.0, 2.5, 46.4],
            "datetime": "2024-01-01T00:00:00Z/2024-12-31T23:59:59.5+01:00",
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]},
            "filter-lang": "cql2-json",
            "conf": {"nohydrate": True},
        }
    )
    assert planned is not None and planned.descending and planned.limit == 100
    sql = " AND ".join(planned.where)
    assert "2.0" not in sql and "2024" not in sql  # values are parameters, never SQL text
    assert planned.args[0] == ["spot-6-7-ortho"]
    assert datetime(2024, 12, 31, 22, 59, 59, 500000, tzinfo=UTC) in planned.args
    assert planned.filter == {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]}


def test_open_intervals_read_as_pgstac_reads_them():
    open_end = plan({**BASE, "datetime": "2024-01-01T00:00:00Z/.."})
    open_start = plan({**BASE, "datetime": "../2024-01-01T00:00:00Z"})
    assert open_end is not None and open_start is not None
    assert "datetime < 'infinity'" in " ".join(open_end.where)
    assert "end_datetime >= '-infinity'" in " ".join(open_start.where)
    instant = plan({**BASE, "datetime": "2024-05-01T10:00:00Z"})
    assert instant is not None and len(instant.args) == 3  # [t, t]: the same instant twice


@pytest.mark.parametrize(
    "extra",
    [
        {"q": "forêt"},
        {"query": {"eo:cloud_cover": {"lt": 10}}},
        {"bbox": [1, 2, 0, 3, 4, 10]},
        {"bbox": [1, 2, 3, float("nan")]},
        {"bbox": [True, 2, 3, 4]},
        {"datetime": "2020-01-01"},
        {"datetime": "P1D/2020-01-01T00:00:00Z"},
        {"datetime": "2020-01-01T00:00:00/2021-01-01T00:00:00Z"},
        {"datetime": "2020-01-01T00:00:00.1234567Z"},
        {"datetime": "2021-01-01T00:00:00Z/2020-01-01T00:00:00Z"},
        {"datetime": "../.."},
        {"sortby": [{"field": "properties.eo:cloud_cover", "direction": "asc"}]},
        {"sortby": [{"field": "datetime", "direction": "desc"}, {"field": "id", "direction": "asc"}]},
        {"sortby": [{"field": "datetime", "direction": "sideways"}]},
        {"filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]}, "filter-lang": "cql-json"},
        {"filter": {"eq": [{"property": "platform"}, "spot-6"]}},
        {"conf": {"nohydrate": True, "context": "on"}},
        {"limit": 0},
        {"limit": 10_001},
        {"collections": []},
        {"ids": "abc"},
        {"fields": {"include": "geometry"}},
        {"datetime": "2020-01-01T00:00:00+20:00"},  # PostgreSQL refuses it: pgSTAC's answer
        {"collections": [f"c{k}" for k in range(65)]},  # the caches stay small
        {"filter": {"op": "in", "args": [{"property": "platform"}, ["x" * 100] * 100]}},
    ],
)
def test_searches_it_does_not_plan_go_to_pgstac(extra):
    assert plan({**BASE, **extra}) is None


def test_sort_on_datetime_either_way_and_fields_without_geometry():
    ascending = plan({**BASE, "sortby": [{"field": "properties.datetime", "direction": "asc"}]})
    assert ascending is not None and not ascending.descending
    no_geometry = plan({**BASE, "fields": {"include": ["id"], "exclude": []}})
    assert no_geometry is not None and not no_geometry.include_geometry
    excluded = plan({**BASE, "fields": {"include": [], "exclude": ["geometry"]}})
    assert excluded is not None and not excluded.include_geometry


def test_tokens_are_pgstacs_and_anything_else_is_refused():
    token = page_token("spot-6-7-ortho", "DS_SPOT7_2024 ü:/?")
    assert parse_token(f"next:{token}") == (False, "spot-6-7-ortho", "DS_SPOT7_2024 ü:/?")
    assert parse_token(f"PREV:{token.upper()}") == (True, "spot-6-7-ortho", "DS_SPOT7_2024 ü:/?")
    for bad in ("next:zz:zz", "sideways:61:62", "next:616:62", "next:61", "next:ffff:61", "next:00:61", ""):
        with pytest.raises(InvalidPagingToken):
            parse_token(bad)


def test_item_links_are_stac_fastapis_for_plain_and_odd_ids():
    rng = random.Random(5)
    alphabet = "abcXYZ019._~-:/?#%é "
    ids = ["DS_SPOT7_202406121031", "a.b", ".", "..", "x..", "?q", "#frag", "a:b", "http://evil", "//host/x"]
    ids += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(300)]
    bases = ("http://127.0.0.1:8102/", "https://catalogue.example.fr/stac/", "http://h//", "http://h/a/../")
    for base in bases:
        for item_id in ids:
            links = item_links(base, "spot-6-7-ortho", item_id, [{"rel": "license", "href": "../licence"}])
            hrefs = {link["rel"]: link["href"] for link in links}
            assert hrefs["self"] == urljoin(base, f"collections/spot-6-7-ortho/items/{item_id}"), item_id
            assert hrefs["collection"] == hrefs["parent"] == urljoin(base, "collections/spot-6-7-ortho")
            assert hrefs["root"] == base and hrefs["license"] == urljoin(base, "../licence")
            assert [link["rel"] for link in links] == ["collection", "parent", "root", "self", "license"]


class SpanConnection:
    """The one query `FastSearch.windows` makes: the searched items' first and last dates."""

    def __init__(self, lo: datetime, hi: datetime) -> None:
        self.span = {"lo": lo, "hi": hi}
        self.queries = 0

    async def fetchrow(self, query: str, *args: object) -> dict:
        self.queries += 1
        return self.span


async def test_year_windows_cover_all_time_in_reading_order_and_are_few():
    fast = FastSearch()
    conn = SpanConnection(datetime(1950, 6, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    planned = plan(BASE)
    assert planned is not None
    windows = await fast.windows(conn, planned, None, None, descending=True)  # type: ignore[arg-type]
    assert len(windows) == MAX_WINDOWS  # not 77 queries for one misdated item
    assert windows[0][1] is None and windows[-1][0] is None  # open at both ends
    assert all(newer[0] == older[1] for newer, older in itertools.pairwise(windows))
    assert windows[0][0] == datetime(2026, 1, 1, tzinfo=UTC)
    ascending = await fast.windows(conn, planned, None, None, descending=False)  # type: ignore[arg-type]
    assert ascending == windows[::-1] and conn.queries == 1  # the span is kept
    one_year = plan({**BASE, "datetime": "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z"})
    assert one_year is not None
    assert await fast.windows(conn, one_year, one_year.start, one_year.end, True) == [(None, None)]  # type: ignore[arg-type]


def test_expired_entries_leave_the_cache():
    cache = _Expiring(ttl_s=-1)
    cache.put("k", 1)
    assert cache.get("k") == (False, None) and "k" not in cache.entries
    small = _Expiring(ttl_s=60, size=3)
    for k in range(10):
        small.put(k, k)
    assert list(small.entries) == [7, 8, 9]

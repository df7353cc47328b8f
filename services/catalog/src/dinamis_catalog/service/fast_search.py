"""Item search as one indexed SQL query, for the searches a map and a portal make.

pgSTAC's `search()` answers everything, but each call costs the database far more than
the rows it returns: it hashes and upserts the search into `searches`, reads
`search_wheres`, looks the paging token up through dynamic SQL, and formats every item
in PL/pgSQL (a base-item lookup per row). Measured at 200,000 items (bench/catalog), it
spent 9.9 ms of PostgreSQL CPU per search against 1.6 ms for one indexed query returning
the same rows.

This module answers the searches whose meaning is plain in SQL — `collections`, `ids`,
`bbox` (2D), `intersects`, `datetime` given as RFC 3339 instants or an interval of them
(open ends `..` included), a CQL2 JSON `filter`, the default order or a sort on
`datetime` either way, `limit` 1..10000, pgSTAC's own `next:`/`prev:` tokens — with one
query of the same meaning: the `WHERE` pgSTAC writes (`stac_search_to_where`), the
`ORDER BY` it writes (`datetime`, then the `collection` and `id` tiebreakers, in the
first sort's direction), its keyset condition for a token (`get_token_filter`), and its
page rules (one row more than the limit to know there is a next page; a `prev` token
reads backwards and flips the page). The filter is translated by pgSTAC itself
(`cql2_query`, so queryables, wrappers and indexes are the ones it would use) and that
translation is kept a few seconds per filter and collection set.

Anything else (a free-text `q`, the Query extension left untranslated, a 3D bbox, bare
dates or durations, a sort on another field, `conf` beyond `nohydrate`, pgSTAC's
`context` setting on) is not planned here: the caller falls back to `search()`.

What it returns is what `search()` returns with `nohydrate` (the caller hydrates): the
features as `content_nonhydrated` builds them — `id`, `geometry` (`ST_AsGeoJSON(g, 20)`,
null when `fields` leaves it out), `collection`, `type`, the stored content, and
`pgstac:base_item` resolved as pgSTAC resolves it — the `next` and `prev` tokens, and
`numberReturned`. tests/integration/test_catalog_fast_search.py compares the two on
hundreds of searches.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from dinamis_shared.errors import DinamisError

MAX_LIMIT = 10_000
# Searches naming more collections, or with a longer filter, go to pgSTAC: the caches here
# are keyed by them and must stay small whatever callers send.
MAX_COLLECTIONS = 64
MAX_FILTER_BYTES = 8192
# At most this many queries per page when reading year by year (the oldest years together).
MAX_WINDOWS = 8
# Keys a search may carry and still be planned here (`conf` only with `nohydrate`).
PLANNED_KEYS = frozenset(
    {"collections", "ids", "bbox", "intersects", "datetime", "filter", "filter-lang", "sortby", "limit",
     "token", "fields", "conf"}
)  # fmt: skip
# An RFC 3339 instant with its offset, at most microseconds (PostgreSQL keeps no more).
# (PostgreSQL refuses offsets beyond 15:59: those go to pgSTAC, which refuses them.)
INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-](0\d|1[0-5]):[0-5]\d)", re.ASCII
)
TOKEN_PART = re.compile(r"([0-9a-f]{2})+", re.ASCII)
BASE_ITEM_TAG = re.compile(r"\s*\d{1,9}\s*", re.ASCII)
DATETIME_FIELDS = frozenset({"datetime", "properties.datetime"})


class Connection(Protocol):
    """The part of an asyncpg connection this module uses."""

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any) -> Any: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...


class InvalidPagingToken(DinamisError):
    """A paging token that is malformed, or names an item that is not there (any more)."""

    code = "invalid-token"
    http_status = 400


def bad_token() -> InvalidPagingToken:
    return InvalidPagingToken(
        "the paging token is invalid or has expired: start the search again",
        message_fr="le jeton de page est invalide ou expiré : relancez la recherche",
    )


@dataclass(frozen=True)
class Plan:
    """One search as SQL: its conditions (with `$n` parameters), their values, the sort
    direction (True: descending), the page size, the CQL2 filter to translate, the token."""

    where: tuple[str, ...]
    args: tuple[Any, ...]
    descending: bool
    limit: int
    include_geometry: bool
    start: datetime | None = None
    end: datetime | None = None
    by_ids: bool = False
    filter: Mapping[str, Any] | None = None
    collections: tuple[str, ...] | None = None
    token: str | None = None


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str) or not INSTANT.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.replace(" ", "T").replace("z", "Z").replace("t", "T"))
    except ValueError:
        return None


def _datetime_range(value: Any) -> tuple[datetime | None, datetime | None] | None:
    """(start, end) of a `datetime` pgSTAC reads as the closed range [start, end] (None:
    an open end), or None when it means something this module does not plan."""
    if not isinstance(value, str):
        return None
    parts = value.split("/")
    if len(parts) == 1:
        instant = _instant(parts[0])
        return None if instant is None else (instant, instant)
    if len(parts) != 2:
        return None
    start_text, end_text = parts
    if start_text in ("..", "") and end_text in ("..", ""):
        return None
    start = None if start_text in ("..", "") else _instant(start_text)
    end = None if end_text in ("..", "") else _instant(end_text)
    if (start is None and start_text not in ("..", "")) or (end is None and end_text not in ("..", "")):
        return None
    if start is not None and end is not None and start > end:
        return None  # pgSTAC's refusal, in its words
    return start, end


def _include_geometry(fields: Any) -> bool | None:
    """pgSTAC's `include_field('geometry', fields)`; None when `fields` is not plain."""
    if fields is None:
        return True
    if not isinstance(fields, Mapping):
        return None
    include, exclude = fields.get("include"), fields.get("exclude")
    if not all(
        v is None or (isinstance(v, list) and all(isinstance(f, str) for f in v)) for v in (include, exclude)
    ):
        return None
    if exclude and "geometry" in exclude:
        return False
    return not include or "geometry" in include


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def plan(search: Mapping[str, Any]) -> Plan | None:
    """The SQL of a search (as pgSTAC receives it), or None when it is not planned here."""
    if not set(search) <= PLANNED_KEYS:
        return None
    conf = search.get("conf")
    if conf is not None and (not isinstance(conf, Mapping) or not set(conf) <= {"nohydrate"}):
        return None
    limit = search.get("limit", 10)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        return None
    include_geometry = _include_geometry(search.get("fields"))
    if include_geometry is None:
        return None

    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any, cast: str = "") -> str:
        args.append(value)
        return f"${len(args)}{cast}"

    collections = None
    dates: tuple[datetime | None, datetime | None] | None = None
    if "ids" in search:
        ids = _strings(search["ids"])
        if ids is None:
            return None
        where.append(f"id = ANY({arg(list(ids), '::text[]')})")
    if "collections" in search:
        collections = _strings(search["collections"])
        if collections is None or len(collections) > MAX_COLLECTIONS:
            return None
        where.append(f"collection = ANY({arg(list(collections), '::text[]')})")
    if "datetime" in search:
        dates = _datetime_range(search["datetime"])
        if dates is None:
            return None
        start, end = dates
        upper = "'infinity'::timestamptz" if end is None else arg(end, "::timestamptz")
        lower = "'-infinity'::timestamptz" if start is None else arg(start, "::timestamptz")
        # An open end is pgSTAC's '[)' range up to infinity: `<`, as it writes it.
        where.append(f"datetime {'<' if end is None else '<='} {upper} AND end_datetime >= {lower}")
    if "intersects" in search:
        if not isinstance(search["intersects"], Mapping):
            return None
        geometry = orjson.dumps(search["intersects"]).decode()
        where.append(f"st_intersects(geometry, ST_GeomFromGeoJSON({arg(geometry, '::text')}))")
    elif "bbox" in search:
        bbox = search["bbox"]
        if not (
            isinstance(bbox, list)
            and len(bbox) == 4
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in bbox)
        ):
            return None
        corners = ", ".join(arg(float(v), "::float8") for v in bbox)
        where.append(f"st_intersects(geometry, ST_SetSRID(ST_MakeEnvelope({corners}), 4326))")

    cql2 = search.get("filter")
    if cql2 is not None:
        lang = search.get("filter-lang", "cql2-json")
        if lang != "cql2-json" or not isinstance(cql2, Mapping) or "op" not in cql2:
            return None
        if len(orjson.dumps(cql2)) > MAX_FILTER_BYTES:
            return None

    descending = True
    sortby = search.get("sortby")
    if sortby not in (None, []):
        if not (isinstance(sortby, list) and len(sortby) == 1 and isinstance(sortby[0], Mapping)):
            return None
        sort = sortby[0]
        direction = sort.get("direction")
        if sort.get("field") not in DATETIME_FIELDS or not isinstance(direction, str):
            return None
        if direction.strip().lower() not in ("asc", "desc", "ascending", "descending"):
            return None
        descending = direction.strip().lower().startswith("desc")

    token = search.get("token")
    if token is not None and not isinstance(token, str):
        return None
    return Plan(
        where=tuple(where),
        args=tuple(args),
        descending=descending,
        limit=limit,
        include_geometry=include_geometry,
        filter=cql2,
        collections=collections,
        token=token,
        start=dates[0] if dates else None,
        end=dates[1] if dates else None,
        by_ids="ids" in search,
    )


Window = tuple[datetime | None, datetime | None]


def year_windows(
    span: tuple[datetime, datetime] | None, lower: datetime | None, upper: datetime | None, descending: bool
) -> list[Window]:
    """[start, end) windows covering all time, in the reading order: one per calendar year
    of `span` (the items' first and last dates) within [lower, upper], the oldest and the
    newest open-ended (an item outside `span`, indexed since it was read, is still in one),
    at most MAX_WINDOWS (the newest years one by one, the oldest together: a span made long
    by one misdated item costs no more). [(None, None)] when that is one window."""
    if span is None:
        return [(None, None)]
    first = max(span[0].year, lower.year if lower is not None else span[0].year)
    last = min(span[1].year, upper.year if upper is not None else span[1].year)
    if last <= first:
        return [(None, None)]
    edges = [datetime(year, 1, 1, tzinfo=UTC) for year in range(first + 1, last + 1)]
    edges = edges[-(MAX_WINDOWS - 1) :]
    windows = list(zip([None, *edges], [*edges, None], strict=True))
    return windows[::-1] if descending else windows


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else min(a, b)


def _latest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else max(a, b)


def parse_token(token: str) -> tuple[bool, str, str]:
    """(prev, collection, id) of a pgSTAC token `<next|prev>:<hex collection>:<hex id>`."""
    parts = token.lower().split(":")
    if (
        len(parts) != 3
        or parts[0] not in ("next", "prev")
        or not all(TOKEN_PART.fullmatch(p) for p in parts[1:])
    ):
        raise bad_token()
    try:
        collection, item_id = (bytes.fromhex(p).decode("utf-8") for p in parts[1:])
    except (ValueError, UnicodeDecodeError):
        raise bad_token() from None
    if "\x00" in collection or "\x00" in item_id:
        raise bad_token()
    return parts[0] == "prev", collection, item_id


def page_token(collection: str, item_id: str) -> str:
    """pgSTAC's `page_token`: each side the hex of its UTF-8 bytes."""
    return f"{collection.encode().hex()}:{item_id.encode().hex()}"


@dataclass
class _Expiring:
    """A small LRU of values that expire after `ttl_s`."""

    ttl_s: float
    size: int = 1024
    entries: OrderedDict[Any, tuple[float, Any]] = field(default_factory=OrderedDict)

    def get(self, key: Any) -> tuple[bool, Any]:
        hit = self.entries.get(key)
        if hit is None:
            return False, None
        if hit[0] < time.monotonic():
            del self.entries[key]
            return False, None
        self.entries.move_to_end(key)
        return True, hit[1]

    def put(self, key: Any, value: Any) -> None:
        self.entries[key] = (time.monotonic() + self.ttl_s, value)
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


class FastSearch:
    """Runs planned searches. Keeps, a few seconds each: pgSTAC's translation of each CQL2
    filter (per collection set: queryables may differ), the base items (per collection and
    tag) and the `context` setting. A new queryable or a collection's new base item is
    seen within `ttl_s`."""

    def __init__(self, ttl_s: float = 10.0) -> None:
        self.filters = _Expiring(ttl_s)
        self.base_items = _Expiring(ttl_s)
        self.settings = _Expiring(ttl_s)
        self.spans = _Expiring(ttl_s)

    async def counts_off(self, conn: Connection) -> bool:
        """pgSTAC's `context` is off and `timing` too (no `numberMatched` to count, no timing
        to add): the only case planned."""
        known, off = self.settings.get("context")
        if not known:
            row = await conn.fetchrow(
                "SELECT pgstac.get_setting('context') AS context, pgstac.get_setting_bool('timing') AS timing"
            )
            # As search() reads them: counts unless exactly 'off' (or unset), a timing if set.
            off = row is not None and row["context"] in (None, "off") and not row["timing"]
            self.settings.put("context", off)
        return bool(off)

    async def filter_sql(
        self, conn: Connection, cql2: Mapping[str, Any], collections: tuple[str, ...] | None
    ) -> str:
        key = hashlib.blake2b(orjson.dumps([cql2, collections], option=orjson.OPT_SORT_KEYS)).digest()
        known, sql = self.filters.get(key)
        if not known:
            sql = await conn.fetchval(
                "SELECT pgstac.cql2_query($1::text::jsonb, NULL, $2::text[])",
                orjson.dumps(cql2).decode(),
                list(collections) if collections is not None else None,
            )
            self.filters.put(key, sql)
        return sql or ""

    async def base_item(self, conn: Connection, collection: str, tag: Any) -> Any:
        """pgSTAC's base item for an item of `collection` tagged `tag` (content_nonhydrated)."""
        text = (
            None
            if tag is None
            else str(tag)
            if isinstance(tag, int | str) and not isinstance(tag, bool)
            else "?"
        )
        known, base = self.base_items.get((collection, text))
        if not known:
            base = None
            if text is None or BASE_ITEM_TAG.fullmatch(text):
                base = await conn.fetchval(
                    "SELECT pgstac.collection_base_item($1::text, $2::int)",
                    collection,
                    None if text is None else int(text),
                )
            if base is None and text is not None:
                base = await conn.fetchval(
                    "SELECT base_item FROM pgstac.collections WHERE id = $1", collection
                )
            if isinstance(base, str | bytes):
                base = orjson.loads(base)
            self.base_items.put((collection, text), base)
        return base

    async def windows(
        self,
        conn: Connection,
        planned: Plan,
        lower: datetime | None,
        upper: datetime | None,
        descending: bool,
    ) -> list[Window]:
        """The year windows (`year_windows`) of the searched collections' items within the
        search's [lower, upper]; one window (no bounds) when it names its items."""
        if planned.by_ids:
            return [(None, None)]
        key = planned.collections
        known, span = self.spans.get(key)
        if not known:
            if key is None:
                row = await conn.fetchrow("SELECT min(datetime) AS lo, max(datetime) AS hi FROM pgstac.items")
            else:
                row = await conn.fetchrow(
                    "SELECT min(datetime) AS lo, max(datetime) AS hi FROM pgstac.items"
                    " WHERE collection = ANY($1::text[])",
                    list(key),
                )
            span = (row["lo"], row["hi"]) if row is not None and row["lo"] is not None else None
            self.spans.put(key, span)
        return year_windows(span, lower, upper, descending)

    async def search(self, conn: Connection, planned: Plan) -> dict[str, Any] | None:
        """The page pgSTAC's `search()` would return (nohydrate), or None when its settings
        ask for what is not planned here (counts)."""
        if not await self.counts_off(conn):
            return None
        where = list(planned.where)
        args = list(planned.args)
        if planned.filter is not None:
            sql = await self.filter_sql(conn, planned.filter, planned.collections)
            if sql.strip():
                where.append(f"({sql})")
        prev = False
        token_key: tuple[str, str] | None = None
        if planned.token is not None:
            prev, collection, item_id = parse_token(planned.token)
            anchor = await conn.fetchval(
                "SELECT datetime FROM pgstac.items WHERE collection = $1 AND id = $2", collection, item_id
            )
            if anchor is None:
                raise bad_token()
            token_key = (collection, item_id)
            # get_token_filter: past the token in the reading direction (all three keys in
            # the first sort's direction, none of them null).
            after = "<" if planned.descending != prev else ">"
            k = len(args)
            args += [anchor, collection, item_id]
            anchor_sql = f"${k + 1}::timestamptz"
            where.append(
                f"datetime {after}= {anchor_sql}"
                f" AND (datetime, collection, id) {after} ({anchor_sql}, ${k + 2}::text, ${k + 3}::text)"
            )
        reading_desc = planned.descending != prev
        direction = "DESC" if reading_desc else "ASC"
        geometry = "ST_AsGeoJSON(geometry, 20)" if planned.include_geometry else "NULL"
        lower, upper = planned.start, planned.end
        if token_key is not None:
            lower, upper = (
                (lower, _earliest(upper, anchor)) if reading_desc else (_latest(lower, anchor), upper)
            )
        rows: list[Any] = []
        for window in await self.windows(conn, planned, lower, upper, reading_desc):
            # One year at a time in the reading order, until the page is full: PostgreSQL
            # would otherwise read every year's matches to sort them (pgSTAC steps too).
            bounds, extra = [], list(args)
            if window[0] is not None:
                extra.append(window[0])
                bounds.append(f"datetime >= ${len(extra)}::timestamptz")
            if window[1] is not None:
                extra.append(window[1])
                bounds.append(f"datetime < ${len(extra)}::timestamptz")
            extra.append(planned.limit + 1 - len(rows))
            query = (
                f"SELECT collection, id, {geometry} AS geometry, content::text AS content FROM pgstac.items"
                f" WHERE {' AND '.join(where + bounds) or 'TRUE'}"
                f" ORDER BY datetime {direction}, collection {direction}, id {direction} LIMIT ${len(extra)}"
            )
            rows += await conn.fetch(query, *extra)
            if len(rows) > planned.limit:
                break
        if prev:
            rows.reverse()

        has_prev = token_key is not None and not prev
        has_next = prev
        if len(rows) == planned.limit + 1:
            if prev:
                has_prev = True
                rows = rows[1:]
            else:
                has_next = True
                rows = rows[:-1]

        features = []
        for row in rows:
            feature: dict[str, Any] = {
                "id": row["id"],
                "geometry": orjson.loads(row["geometry"]) if row["geometry"] is not None else None,
                "collection": row["collection"],
                "type": "Feature",
            }
            feature.update(orjson.loads(row["content"]))
            feature["pgstac:base_item"] = await self.base_item(
                conn, row["collection"], feature.get("pgstac:base_item")
            )
            features.append(feature)

        next_token = prev_token = None
        if has_next and rows:
            next_token = page_token(rows[-1]["collection"], rows[-1]["id"])
        if has_prev and rows:
            prev_token = page_token(rows[0]["collection"], rows[0]["id"])
            if f"prev:{prev_token}" == (planned.token or "").lower():
                prev_token = None
        return {
            "type": "FeatureCollection",
            "features": features,
            "next": next_token,
            "prev": prev_token,
            "numberReturned": len(features),
        }

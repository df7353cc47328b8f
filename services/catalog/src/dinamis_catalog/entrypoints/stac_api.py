"""The STAC API (stac-fastapi-pgstac) as DINAMIS serves it: what the stock app leaves
to chance on bad input, and the conformance classes it advertises but did not keep.

- **Problems.** Every error is an RFC 9457 problem (`application/problem+json`, a
  stable `code`, French first): stac-fastapi's own errors (404, 405, its 400s), request
  validation (400, the STAC API rule, with the fields at fault), pgSTAC's refusals
  (`RAISE EXCEPTION`, bad values: `invalid-search`; a paging token it cannot read:
  `invalid-token`), JSON that does not decode (`invalid-json`), a POST body that is not
  a JSON object (`invalid-body`), non-finite numbers in a bbox or a geometry
  (`invalid-bbox`, `invalid-geometry`). A client error is logged on one line, never as a
  traceback; nothing of the database's text is returned.
- **Query extension.** `eq`, `neq`/`ne`, `lt`, `lte`, `gt`, `gte`, `startsWith`,
  `endsWith`, `contains` and `in` (pgSTAC knows only the comparisons): the `query` is
  translated here into CQL2 JSON, and combined (AND) with a `filter` given beside it.
- **Fields extension.** A search with `fields` is still GeoJSON
  (`application/geo+json`), as the item-search class requires.
- **Sort.** Advertised under the STAC API 1.0.0 URI too (what pystac-client looks for),
  beside the 1.1.0 one stac-fastapi advertises.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping
from enum import Enum, StrEnum
from typing import Any
from urllib.parse import urljoin

import asyncpg
import attr
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from hydraters import hydrate
from pydantic import BaseModel
from stac_fastapi.extensions.query import QueryConformanceClasses
from stac_fastapi.extensions.query import QueryExtension as QueryExtensionBase
from stac_fastapi.extensions.sort import SearchSortExtension
from stac_fastapi.pgstac.core import CoreCrudClient
from stac_fastapi.pgstac.models.links import INFERRED_LINK_RELS, PagingLinks
from stac_fastapi.pgstac.utils import filter_fields
from stac_fastapi.types.errors import StacApiError
from stac_fastapi.types.requests import get_base_url
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dinamis_catalog.service.fast_search import FastSearch, bad_token, parse_token, plan
from dinamis_shared.errors import DinamisError
from dinamis_shared.health import dinamis_error_response, unavailable_response

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
GEOJSON = "application/geo+json"
JSON_MEDIA_TYPES = ("application/json", "application/geo+json")


# --- Problems --------------------------------------------------------------------------


class StacClientError(DinamisError):
    """A request the STAC API cannot answer as asked (the caller's fault)."""

    code = "invalid-parameter"
    http_status = 400


class InvalidParameter(StacClientError):
    code = "invalid-parameter"


class InvalidSearch(StacClientError):
    code = "invalid-search"


class InvalidJson(StacClientError):
    code = "invalid-json"


class InvalidBody(StacClientError):
    code = "invalid-body"


class InvalidBbox(StacClientError):
    code = "invalid-bbox"


class InvalidGeometry(StacClientError):
    code = "invalid-geometry"


class InvalidFilter(StacClientError):
    code = "invalid-filter"


class InvalidQuery(StacClientError):
    code = "invalid-query"


class InvalidDatetime(StacClientError):
    code = "invalid-datetime"


class NotFound(StacClientError):
    code = "not-found"
    http_status = 404


class MethodNotAllowed(StacClientError):
    code = "method-not-allowed"
    http_status = 405


class UnsupportedMediaType(StacClientError):
    code = "unsupported-media-type"
    http_status = 415


def _problem(request_headers: Mapping[str, str], exc: DinamisError, **extra: object) -> JSONResponse:
    response = dinamis_error_response(exc, request_headers.get("accept-language", ""))
    if extra:
        body = json.loads(bytes(response.body))
        body.update(extra)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length",)}
        response = JSONResponse(body, status_code=exc.http_status, media_type=PROBLEM, headers=headers)
    return response


def _log_refusal(request: Request, status: int, code: str, why: str) -> None:
    """One line per refused request (never a traceback: a client error is not ours)."""
    log.info(
        "request refused %d %s: %s %s: %s",
        status,
        code,
        request.method,
        request.url.path,
        why[:300].replace("\n", " "),
    )


def pgstac_refusal(exc: BaseException) -> DinamisError | None:
    """The caller's error behind a pgSTAC exception, None when it is not the caller's."""
    text = str(exc)
    if isinstance(exc, asyncpg.exceptions.RaiseError) and "token" in text.lower():
        return bad_token()
    if isinstance(exc, asyncpg.exceptions.InvalidDatetimeFormatError):
        return InvalidDatetime("invalid datetime", message_fr="date invalide")
    if isinstance(
        exc,
        asyncpg.exceptions.RaiseError | asyncpg.exceptions.DataError | asyncpg.exceptions.SyntaxOrAccessError,
    ):
        return InvalidSearch(
            "the search is invalid (unknown property or operator, malformed value)",
            message_fr="recherche invalide (propriété ou opérateur inconnu, valeur mal formée)",
        )
    return None


DATABASE_OUTAGES = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
)

HTTP_ERRORS: dict[int, tuple[type[StacClientError], str, str]] = {
    404: (NotFound, "not found", "introuvable"),
    405: (MethodNotAllowed, "method not allowed", "méthode non permise"),
}


def http_error(status: int, detail: str) -> StacClientError:
    """Our problem for one of stac-fastapi's (or Starlette's) HTTPExceptions."""
    if status in HTTP_ERRORS:
        cls, en, fr = HTTP_ERRORS[status]
        return cls(en, message_fr=fr)
    if detail.startswith("Invalid filter"):
        return InvalidFilter(
            "invalid CQL2 filter: " + detail.removeprefix("Invalid filter:").strip()[:300],
            message_fr="filtre CQL2 invalide",
        )
    if "datetime" in detail.lower():
        return InvalidDatetime(
            "invalid datetime (RFC 3339, or an interval start/end)",
            message_fr="date invalide (RFC 3339, ou un intervalle début/fin)",
        )
    error = InvalidParameter(
        "invalid parameters: " + detail[:300],
        message_fr="paramètres invalides",
    )
    error.http_status = status if 400 <= status < 500 else 400
    return error


def install_http_problems(app: FastAPI) -> None:
    """Starlette's and the libraries' HTTPExceptions (404 unknown route, 405, their 400s)
    as problems."""

    async def http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = http_error(exc.status_code, str(exc.detail))
        _log_refusal(request, error.http_status, error.code, str(exc.detail))
        response = _problem(request.headers, error)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    app.add_exception_handler(StarletteHTTPException, http_exception)


def install_stac_problems(app: FastAPI) -> None:
    """Problem details for every error of the STAC API app (replacing stac-fastapi's own
    `{"code", "description"}` and `{"detail"}` bodies)."""

    async def dinamis_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DinamisError)
        if exc.http_status < 500:
            _log_refusal(request, exc.http_status, exc.code, exc.message)
        return _problem(request.headers, exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()[:20]]
        error = InvalidParameter("the request is invalid", message_fr="la requête est invalide")
        _log_refusal(request, 400, error.code, json.dumps(errors)[:300])
        return _problem(request.headers, error, errors=errors)

    async def stac_error(request: Request, exc: Exception) -> Response:
        if type(exc).__name__ == "NotFoundError":
            error: StacClientError = NotFound(str(exc)[:300] or "not found", message_fr="introuvable")
        else:
            error = InvalidParameter(str(exc)[:300] or "invalid request", message_fr="requête invalide")
        _log_refusal(request, error.http_status, error.code, str(exc))
        return _problem(request.headers, error)

    async def database_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, DATABASE_OUTAGES):
            log.warning("database unavailable: %s: %s", type(exc).__name__, str(exc)[:300])
            return unavailable_response()
        error = pgstac_refusal(exc)
        if error is None:
            raise exc  # not the caller's: the platform's handler (503 on outages, else 500)
        _log_refusal(request, error.http_status, error.code, f"{type(exc).__name__}: {exc}")
        return _problem(request.headers, error)

    async def json_error(request: Request, exc: Exception) -> Response:
        error = InvalidJson(
            "a JSON parameter (query, intersects, filter) does not decode",
            message_fr="un paramètre JSON (query, intersects, filter) est illisible",
        )
        _log_refusal(request, 400, error.code, str(exc))
        return _problem(request.headers, error)

    app.add_exception_handler(DinamisError, dinamis_error)
    install_http_problems(app)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StacApiError, stac_error)
    # stac-fastapi registered handlers on each of its error classes: replace them too.
    for cls in list(app.exception_handlers):
        if isinstance(cls, type) and issubclass(cls, StacApiError):
            app.add_exception_handler(cls, stac_error)
    app.add_exception_handler(asyncpg.exceptions.PostgresError, database_error)
    app.add_exception_handler(orjson.JSONDecodeError, json_error)


# --- POST bodies -----------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class SearchBodyCheck:
    """ASGI middleware (inside the body-size guard): a POST to a search route must carry
    JSON (415 otherwise), a JSON object (400 `invalid-body`) without NaN or Infinity
    (400 `invalid-json`), before stac-fastapi parses it (its models fail with 500s on a
    list or a number)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/search"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        error: StacClientError | None = None
        body = b""
        if media not in JSON_MEDIA_TYPES:
            error = UnsupportedMediaType(
                "the body must be JSON (Content-Type: application/json)",
                message_fr="le corps doit être du JSON (Content-Type: application/json)",
            )
        else:
            chunks = []
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            parsed = parse_body(body)
            if not isinstance(parsed, StacClientError):
                parsed = normalise_search(parsed)
            if isinstance(parsed, StacClientError):
                error = parsed
            else:
                body = json.dumps(parsed).encode()
        if error is not None:
            log.info("request refused %d %s: POST %s", error.http_status, error.code, scope["path"])
            response = _problem(headers, error)
            await response(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def parse_body(body: bytes) -> dict[str, Any] | StacClientError:
    """A search body as a JSON object of finite numbers, or why it is refused."""
    try:
        doc = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        return InvalidJson(
            "the body is not valid JSON (NaN and Infinity are not JSON numbers)",
            message_fr="le corps n'est pas du JSON valide (NaN et Infinity ne sont pas des nombres JSON)",
        )
    except RecursionError:
        return InvalidJson("the body is nested too deeply", message_fr="le corps est trop imbriqué")
    if not isinstance(doc, dict):
        return InvalidBody("the body must be a JSON object", message_fr="le corps doit être un objet JSON")
    return doc


def body_error(body: bytes) -> StacClientError | None:
    """Why a search body is refused (None: a JSON object of finite numbers)."""
    parsed = parse_body(body)
    return parsed if isinstance(parsed, StacClientError) else None


def normalise_search(doc: dict[str, Any]) -> dict[str, Any] | StacClientError:
    """A single collection or id may be given as a string (stac-api-validator does); `fields`,
    when given, is an object."""
    if "fields" in doc and doc["fields"] is None:
        return InvalidParameter("fields must be an object", message_fr="fields doit être un objet")
    for name in ("collections", "ids"):
        if isinstance(doc.get(name), str):
            doc[name] = [doc[name]]
    return doc


# --- Query extension: every operator, as CQL2 -------------------------------------------


class Operator(StrEnum):
    """The Query extension's operators (all of them)."""

    eq = "eq"
    ne = "ne"
    neq = "neq"
    lt = "lt"
    lte = "lte"
    gt = "gt"
    gte = "gte"
    startsWith = "startsWith"
    endsWith = "endsWith"
    contains = "contains"
    in_ = "in"


class QueryExtensionPostRequest(BaseModel):
    query: dict[str, dict[Operator, Any]] | None = None


class QueryExtension(QueryExtensionBase):
    POST = QueryExtensionPostRequest


COMPARISONS = {"eq": "=", "ne": "<>", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
LIKE_SPECIAL = re.compile(r"([\\%_])")


def _scalar(value: Any) -> bool:
    if isinstance(value, bool | str):
        return True
    return isinstance(value, int | float) and math.isfinite(value)


def _bad_query(en: str, fr: str) -> InvalidQuery:
    return InvalidQuery(f"invalid query: {en}", message_fr=f"query invalide : {fr}")


def query_to_cql2(query: Mapping[Any, Any]) -> dict[str, Any]:
    """The Query extension's `{property: {operator: value}}` as one CQL2 JSON expression."""
    terms: list[dict[str, Any]] = []
    if not query:
        raise _bad_query("no property", "aucune propriété")
    for name, ops in query.items():
        if not isinstance(name, str) or not name.strip():
            raise _bad_query("a property name is empty", "un nom de propriété est vide")
        prop = {"property": name}
        if not isinstance(ops, Mapping):
            ops = {"eq": ops}
        if not ops:
            raise _bad_query(f"no operator for {name[:60]}", f"aucun opérateur pour {name[:60]}")
        for raw_op, value in ops.items():
            op = raw_op.value if isinstance(raw_op, Enum) else str(raw_op)
            if op in COMPARISONS:
                if not _scalar(value):
                    raise _bad_query(
                        f"{op} takes a string, number or boolean", f"{op} attend un texte, nombre ou booléen"
                    )
                terms.append({"op": COMPARISONS[op], "args": [prop, value]})
            elif op in ("startsWith", "endsWith", "contains"):
                if not isinstance(value, str):
                    raise _bad_query(f"{op} takes a string", f"{op} attend un texte")
                text = LIKE_SPECIAL.sub(r"\\\1", value)
                pattern = {"startsWith": f"{text}%", "endsWith": f"%{text}", "contains": f"%{text}%"}[op]
                terms.append({"op": "like", "args": [prop, pattern]})
            elif op == "in":
                if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
                    raise _bad_query(
                        "in takes a non-empty array of strings or numbers",
                        "in attend un tableau non vide de textes ou de nombres",
                    )
                # The value is one of them, or (an array property) has one of them.
                terms.append(
                    {
                        "op": "or",
                        "args": [
                            {"op": "in", "args": [prop, value]},
                            {"op": "a_overlaps", "args": [prop, value]},
                        ],
                    }
                )
            else:
                raise _bad_query(f"unknown operator {op[:40]!r}", f"opérateur inconnu {op[:40]!r}")
    return terms[0] if len(terms) == 1 else {"op": "and", "args": terms}


# --- Bbox and geometries ----------------------------------------------------------------


def _numbers(coordinates: Any) -> Iterator[Any]:
    if isinstance(coordinates, list | tuple):
        for c in coordinates:
            yield from _numbers(c)
    else:
        yield coordinates


def check_bbox(bbox: Any) -> None:
    if bbox is None:
        return
    values = list(bbox)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise InvalidBbox(
            "bbox values must be finite numbers",
            message_fr="les valeurs de bbox doivent être des nombres finis",
        )


def check_geometry(geometry: Any) -> None:
    if geometry is None:
        return
    doc = geometry.model_dump() if isinstance(geometry, BaseModel) else geometry
    if not isinstance(doc, dict):
        return
    for part in doc.get("geometries") or [doc]:
        coords = part.get("coordinates") if isinstance(part, dict) else None
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in _numbers(coords)):
            raise InvalidGeometry(
                "geometry coordinates must be finite numbers",
                message_fr="les coordonnées de la géométrie doivent être des nombres finis",
            )


# --- The client ----------------------------------------------------------------------------


# The Fields extension's default set, and what an item keeps whatever `include` says.
DEFAULT_FIELDS = frozenset(
    {"type", "stac_version", "id", "geometry", "bbox", "links", "assets", "properties.datetime"}
)
ALWAYS_FIELDS = frozenset({"type", "stac_version", "id"})


def effective_fields(include: set[str], exclude: set[str], include_given: bool) -> tuple[set[str], set[str]]:
    """The Fields extension's rules, as stac-api-validator checks them: no include nor
    exclude (or an explicit empty `include` beside an `exclude`): the default set, less
    what is excluded; only `exclude`: everything else; an `include`: those fields and the
    item's type, version and id. A field both included and excluded is included."""
    if not include and (not exclude or include_given):
        include = set(DEFAULT_FIELDS - exclude)
    elif include:
        include = include | ALWAYS_FIELDS
    exclude = {e for e in exclude - include if not any(i.startswith(f"{e}.") for i in include)}
    return include, exclude


def _geojson(result: Any) -> Any:
    """A page of items as GeoJSON, serialised once with orjson (FastAPI would walk every
    value through `jsonable_encoder` first: a third of the CPU of a 100-item search).
    stac-fastapi answers a search with `fields` as plain JSON: it is still GeoJSON."""
    if isinstance(result, Mapping):
        return Response(orjson.dumps(result), media_type=GEOJSON)
    if isinstance(result, Response) and (result.media_type or "").startswith("application/json"):
        result.media_type = GEOJSON
        result.headers["content-type"] = GEOJSON
    return result


@attr.s
class DinamisCoreClient(CoreCrudClient):
    """stac-fastapi-pgstac's client, with the checks and translations of the module doc."""

    async def _search_base(self, search_request: Any, request: Request) -> Any:
        # (The model's default is an empty `fields` object: only one the caller gave counts.)
        fields = getattr(search_request, "fields", None)
        if fields is not None and "fields" in search_request.model_fields_set:
            fields.include, fields.exclude = effective_fields(
                set(fields.include or ()),
                set(fields.exclude or ()),
                include_given="include" in fields.model_fields_set,
            )
        check_bbox(getattr(search_request, "bbox", None))
        token = getattr(search_request, "token", None)
        if token:
            parse_token(token)  # a malformed token is refused here, whichever path answers
        check_geometry(getattr(search_request, "intersects", None))
        query = getattr(search_request, "query", None)
        if query is not None:
            translated = query_to_cql2(query)
            existing = getattr(search_request, "filter_expr", None)
            search_request.query = None
            search_request.filter_expr = (
                {"op": "and", "args": [existing, translated]} if existing else translated
            )
            search_request.filter_lang = "cql2-json"
        fast: FastSearch | None = getattr(request.app.state, "fast_search", None)
        if fast is not None:
            answer = await self._fast_search_base(fast, search_request, request)
            if answer is not None:
                return answer
        return await super()._search_base(search_request, request)

    async def _fast_search_base(self, fast: FastSearch, search_request: Any, request: Request) -> Any:
        """The search as one SQL query (`service.fast_search`), then what stac-fastapi-pgstac
        does with pgSTAC's answer (API hydration, the Fields extension, item and paging
        links), or None when the search is not planned there."""
        settings = request.app.state.settings
        if not settings.use_api_hydrate:
            return None
        search_request.conf = {**(search_request.conf or {}), "nohydrate": True}
        planned = plan(search_request.model_dump(mode="json", exclude_none=True, by_alias=True))
        if planned is None:
            return None
        async with request.app.state.get_connection(request, "r") as conn:
            page = await fast.search(conn, planned)
        if page is None:
            return None
        fields = getattr(search_request, "fields", None)
        include: set[str] = fields.include if fields and fields.include else set()
        exclude: set[str] = fields.exclude if fields and fields.exclude else set()
        base_url = get_base_url(request)
        features = []
        for feature in page["features"]:
            base_item = feature.pop("pgstac:base_item", None)
            if not isinstance(base_item, dict):
                base_item = await self._get_base_item(feature.get("collection"), request=request)
            base_item = {k: v for k, v in base_item.items() if v is not None}
            item = hydrate(base_item, feature, strip_unmatched_markers=settings.exclude_hydrate_markers)
            collection_id, item_id = item.get("collection"), item.get("id")
            item = filter_fields(item, include, exclude)
            if not exclude or ("links" not in exclude and all([collection_id, item_id])):
                item["links"] = item_links(base_url, collection_id, item_id, item.get("links"))
            features.append(item)
        page["features"] = features
        page["links"] = await PagingLinks(
            request=request, next=page.pop("next"), prev=page.pop("prev")
        ).get_links()
        return page

    async def all_collections(self, request: Request, bbox: Any = None, **kwargs: Any) -> Any:
        check_bbox(bbox)
        return await super().all_collections(request, bbox=bbox, **kwargs)

    async def item_collection(self, *args: Any, **kwargs: Any) -> Any:
        return _geojson(await super().item_collection(*args, **kwargs))

    async def get_search(self, *args: Any, **kwargs: Any) -> Any:
        return _geojson(await super().get_search(*args, **kwargs))

    async def post_search(self, *args: Any, **kwargs: Any) -> Any:
        return _geojson(await super().post_search(*args, **kwargs))


PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*", re.ASCII)


def _plain(segment: Any) -> bool:
    """A path segment `urljoin` leaves as it is (no `.`/`..`, `?`, `#`, `:`, `/` or `%`)."""
    return isinstance(segment, str) and PLAIN_SEGMENT.fullmatch(segment) is not None


@functools.lru_cache(maxsize=64)
def _normal(base_url: str) -> bool:
    """A base URL `urljoin` appends to as it is (ends with `/`, no `//`, `./` or `../`)."""
    return urljoin(base_url, "a/b") == base_url + "a/b"


def _append(base_url: str, path: str) -> str:
    return base_url + path


def item_links(base_url: str, collection_id: Any, item_id: Any, stored: Any) -> list[dict[str, Any]]:
    """An item's links as stac-fastapi-pgstac's `ItemLinks` makes them (in its order: the
    inferred ones, then the stored ones it does not infer, resolved on the base URL). Its
    `urljoin` is a concatenation when the ids are plain segments (the common case, 4 times
    faster)."""
    plain = _plain(collection_id) and _plain(item_id) and _normal(base_url)
    join = _append if plain else urljoin
    collection = join(base_url, f"collections/{collection_id}")
    item = join(base_url, f"collections/{collection_id}/items/{item_id}")
    links: list[dict[str, Any]] = [
        {"rel": "collection", "type": "application/json", "href": collection},
        {"rel": "parent", "type": "application/json", "href": collection},
        {"rel": "root", "type": "application/json", "href": base_url},
        {"rel": "self", "type": GEOJSON, "href": item},
    ]
    for link in stored or ():
        if link["rel"] not in INFERRED_LINK_RELS:
            links.append({**link, "href": urljoin(base_url, str(link["href"]))})
    return links


def search_extensions() -> dict[str, Any]:
    """Our query extension (every operator) and sort advertised under both URIs."""
    sort_1_0 = "https://api.stacspec.org/v1.0.0/item-search#sort"
    sort = SearchSortExtension()
    sort.conformance_classes = [*sort.conformance_classes, sort_1_0]
    return {"query": QueryExtension(), "sort": sort}


def item_collection_extensions() -> dict[str, Any]:
    """The same query operators on `/collections/{id}/items`."""
    return {"query": QueryExtension(conformance_classes=[QueryConformanceClasses.ITEMS])}


# --- OpenAPI ---------------------------------------------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `detail` in French unless Accept-Language prefers English.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "example": "urn:dinamis:problem:invalid-search"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "stable, machine-readable"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}}},
        },
    },
}
ERROR_DESCRIPTIONS = {
    "400": "Requête invalide / invalid request",
    "404": "Introuvable / not found",
    "422": "Paramètres invalides / invalid parameters",
    "4XX": "Erreur du client / client error",
    "5XX": "Erreur du serveur, ou service indisponible (503) / server error, or unavailable (503)",
}


def document_problems(schema: dict[str, Any], validation_status: str) -> dict[str, Any]:
    """Every operation's error responses as `application/problem+json` (the `Problem`
    schema): FastAPI's 422 becomes `validation_status`, and 4XX and 5XX are added."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete") or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            if "422" in responses and validation_status != "422":
                del responses["422"]
            for status in (validation_status, "4XX", "5XX"):
                responses.setdefault(
                    status, {"description": ERROR_DESCRIPTIONS.get(status, "Erreur / error")}
                )
            for status, response in responses.items():
                if status[0] in "45" and isinstance(response, dict):
                    response["content"] = content
                    response.setdefault("description", ERROR_DESCRIPTIONS.get(status, "Erreur / error"))
    return schema


FIELDS_NOTE = (
    "Avec `fields` (extension Fields), les objets ne portent que les champs demandés / with `fields` "
    "(Fields extension), the objects carry only the fields asked for"
)
SCHEMA_REF = "#/components/schemas/"


def _takes_fields(operation: dict[str, Any], schemas: dict[str, Any]) -> bool:
    if any(p.get("name") == "fields" for p in operation.get("parameters", [])):
        return True
    for media in operation.get("requestBody", {}).get("content", {}).values():
        ref = media.get("schema", {}).get("$ref", "")
        if "fields" in schemas.get(ref.removeprefix(SCHEMA_REF), {}).get("properties", {}):
            return True
    return False


def document_fields(schema: dict[str, Any]) -> dict[str, Any]:
    """The Fields extension leaves out of each item (or collection) any property the
    caller did not ask for, required ones too: the 200 answer of an operation that takes
    `fields` is documented as `<Schema>Fields`, the same schema whose nested objects
    require nothing (the types of what is there still hold)."""
    schemas = schema.get("components", {}).get("schemas", {})

    def partial(name: str, keep_required: bool) -> str:
        new = f"{name}{'Fields' if keep_required else 'Partial'}"
        if new not in schemas:
            schemas[new] = {}  # taken, for schemas that refer to themselves
            schemas[new] = strip(schemas[name], keep_required)
        return new

    def strip(node: Any, keep_required: bool = False) -> Any:
        if isinstance(node, list):
            return [strip(value) for value in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "required" and isinstance(value, list) and not keep_required:
                continue
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF):
                out[key] = SCHEMA_REF + partial(value.removeprefix(SCHEMA_REF), keep_required=False)
            elif key == "properties" and isinstance(value, dict):
                out[key] = {name: strip(sub) for name, sub in value.items()}
            else:
                out[key] = strip(value)
        return out

    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post") or not isinstance(operation, dict):
                continue
            if not _takes_fields(operation, schemas):
                continue
            answer = operation.get("responses", {}).get("200", {})
            for media in answer.get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                if ref.startswith(SCHEMA_REF):
                    media["schema"] = {"$ref": SCHEMA_REF + partial(ref.removeprefix(SCHEMA_REF), True)}
                    answer["description"] = f"{answer.get('description', 'OK')}. {FIELDS_NOTE}"
    return schema


def with_problem_openapi(app: FastAPI, validation_status: str) -> None:
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_fields(document_problems(generate(), validation_status))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

"""The problem responses in every service's OpenAPI, added once by the scaffold
(`create_service_app`): a `Problem` schema (RFC 9457, `application/problem+json`) and,
on each operation, the refusals it can answer:

- `400` everywhere (the edge validator: `invalid-character`, `non-finite-number`,
  `invalid-json`; and the routes' own bad-request refusals);
- `401` and `403` on routes that need an authenticated caller;
- `404` on routes with a path parameter;
- `413` on routes that take a body (`body-too-large`);
- `422` where FastAPI validates input (our handler answers it as a problem);
- any 4xx/5xx a route declares itself (e.g. `409`, `429`) gets the problem media type;
- `4XX` (any other refusal) and `5XX` (`internal-error`, `unavailable`) as defaults.

A library app that keeps its own error format (the STAC API) documents only the
problems our layers answer (400 from the edge, 401/403 of our routes, 413, 5XX): its
own errors keep the format it documents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from dinamis_shared.guard import depends_on_authentication

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "Détails d'un problème (RFC 9457) ; `detail` est en français sauf si Accept-Language "
    "préfère l'anglais / problem details (RFC 9457); `detail` is French unless Accept-Language "
    "prefers English.",
    "properties": {
        "type": {
            "type": "string",
            "format": "uri-reference",
            "example": "urn:dinamis:problem:invalid-character",
        },
        "title": {"type": "string", "example": "Invalid character"},
        "status": {"type": "integer", "example": 400},
        "detail": {"type": "string", "example": "caractère nul (U+0000) interdit dans le chemin"},
        "code": {
            "type": "string",
            "description": "Code stable, lisible par une machine / stable machine-readable code",
            "example": "invalid-character",
        },
    },
    "required": ["type", "title", "status", "code"],
    "additionalProperties": True,
}

DESCRIPTIONS = {
    "400": "Requête refusée : caractère nul (`invalid-character`), nombre non fini (`non-finite-number`), "
    "JSON invalide (`invalid-json`) ou paramètre refusé / refused request: NUL character, non-finite "
    "number, invalid JSON or a refused parameter",
    "401": "Identifiants absents ou invalides / missing or invalid credentials",
    "403": "Appelant non autorisé ; `code` dit pourquoi / caller not allowed; `code` says why",
    "404": "Introuvable / not found",
    "409": "Conflit avec l'état actuel / conflict with the current state",
    "413": "Corps de requête trop volumineux (`body-too-large`) / request body too large",
    "422": "Entrée invalide (`invalid-request` avec les champs en faute, ou un code métier) / invalid input",
    "429": "Trop de requêtes ou limite atteinte / too many requests or limit reached",
    "4XX": "Autre refus, en détails de problème / any other refusal, as problem details",
    "5XX": "Erreur interne (`internal-error`) ou service indisponible (`unavailable`, réessayez) / "
    "internal error or service unavailable (retry)",
}


def _auth_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of the operations that need an authenticated caller."""
    found = set()
    for context in iter_route_contexts(app.routes):  # routes of included routers too
        dependant = getattr(context, "dependant", None)
        if dependant is not None and depends_on_authentication(dependant):
            for method in context.methods or ():
                found.add((str(context.path_format), method.lower()))
    return found


def _problem_content(response: dict[str, Any]) -> None:
    response.setdefault("content", {})[PROBLEM_MEDIA_TYPE] = {"schema": PROBLEM_REF}


def document_problems(schema: dict[str, Any], app: FastAPI, *, own_errors: bool) -> dict[str, Any]:
    """Add the Problem schema and each operation's problem responses to `schema` (in place)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    authenticated = _auth_operations(app)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            codes = {"400", "5XX"}
            if "requestBody" in operation or method in ("post", "put", "patch"):  # a route may read it raw
                codes.add("413")
            if (path, method) in authenticated:
                codes |= {"401", "403"}
            if own_errors:
                codes.add("4XX")
                if "{" in path:
                    codes.add("404")
                if "422" in responses:  # FastAPI's schema says HTTPValidationError: ours is a problem
                    responses["422"]["content"] = {}
                codes |= {c for c in responses if c[:1] in ("4", "5")}
            for code in sorted(codes):
                response = responses.setdefault(code, {"description": DESCRIPTIONS.get(code, "Problem")})
                _problem_content(response)
    return schema


def install_problem_docs(app: FastAPI, *, own_errors: bool) -> None:
    """Wrap `app.openapi` so that the generated document carries the problem responses."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate(), app, own_errors=own_errors)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

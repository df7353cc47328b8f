"""Run stac-api-validator without the Internet: the JSON schemas it would download
(schemas.stacspec.org, stac-extensions.github.io, geojson.org...) are served from copies
shipped on this machine, and a schema that has no copy is a loud error, never a pass.

stac-api-validator validates documents three ways, each fetching schemas its own way:
- stac-validator (and stac-check, which calls it): `stac_validator.utilities.fetch_and_parse_file`
  (requests.get), behind an lru_cache, for the core schema and every `$ref`/extension;
- pystac (`Client.open(...).validate()` at the end of the run): `JsonSchemaSTACValidator`,
  whose schema cache starts with pystac's own STAC 1.1.0 copies and fetches the rest with
  `StacIO.read_text`.
`offline_schemas()` patches the first and registers a validator for the second, both reading
one store: the schemas vendored in dinamis_shared (`stac_schemas/`, laid out as host/path)
plus the STAC 1.1.0 + GeoJSON schemas pystac ships.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pystac.validation
import stac_validator.utilities as stac_validator_utilities
from pystac.validation.local_validator import get_local_schema_cache
from pystac.validation.stac_validator import JsonSchemaSTACValidator

from dinamis_shared.stac import SCHEMA_DIR

# Hosts whose documents are JSON schemas: anything asked of them must come from the store.
SCHEMA_HOSTS = {
    "schemas.stacspec.org",
    "stac-extensions.github.io",
    "geojson.org",
    "proj.org",
    "cdn.staclint.com",
    "json-schema.org",
}


class SchemaNotVendored(LookupError):
    def __init__(self, url: str) -> None:
        super().__init__(f"no local copy of the JSON schema {url} (add it to dinamis_shared/stac_schemas)")


def schema_store() -> dict[str, dict[str, Any]]:
    store: dict[str, dict[str, Any]] = dict(get_local_schema_cache())
    for path in SCHEMA_DIR.rglob("*.json"):
        store["https://" + path.relative_to(SCHEMA_DIR).as_posix()] = json.loads(path.read_text())
    return store


def _key(url: str) -> str:
    return url.split("#", 1)[0]


def is_schema_url(url: str) -> bool:
    return urlsplit(url).hostname in SCHEMA_HOSTS


class OfflineSTACValidator(JsonSchemaSTACValidator):
    """pystac's validator with every schema from the store."""

    def __init__(self, store: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.store = store
        self.schema_cache.update(store)

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        key = _key(schema_uri)
        if key not in self.schema_cache:
            raise SchemaNotVendored(schema_uri)
        return self.schema_cache[key]


@contextlib.contextmanager
def offline_schemas() -> Iterator[list[str]]:
    """Serve schemas from the store while the block runs; yields the list of schema URLs
    that were asked for (to check the validators really validated)."""
    store = schema_store()
    asked: list[str] = []
    original = stac_validator_utilities.fetch_and_parse_file

    def fetch_and_parse_file(input_path: str, headers: dict | None = None) -> dict:
        if not is_schema_url(input_path):
            return original(input_path, headers)
        asked.append(input_path)
        try:
            return store[_key(input_path)]
        except KeyError:
            raise SchemaNotVendored(input_path) from None

    previous = pystac.validation.RegisteredValidator._validator
    stac_validator_utilities.fetch_and_parse_file = fetch_and_parse_file
    stac_validator_utilities.fetch_and_parse_schema.cache_clear()
    validator = OfflineSTACValidator(store)
    original_get = validator._get_schema

    def counted_get(schema_uri: str) -> dict[str, Any]:
        asked.append(schema_uri)
        return original_get(schema_uri)

    validator._get_schema = counted_get  # type: ignore[method-assign]
    pystac.validation.set_validator(validator)
    try:
        yield asked
    finally:
        stac_validator_utilities.fetch_and_parse_file = original
        stac_validator_utilities.fetch_and_parse_schema.cache_clear()
        pystac.validation.RegisteredValidator._validator = previous

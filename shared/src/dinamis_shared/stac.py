"""Offline STAC validation: the item's core schema and every extension it declares,
validated with jsonschema against the schemas vendored in `stac_schemas/` (this
machine, like many production hosts, cannot fetch schemas.stacspec.org). A schema
that is not vendored is an error, never a silent pass."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

SCHEMA_DIR = Path(__file__).with_name("stac_schemas")

EXTENSIONS = {
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "view": "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
}


def _refuse_fetch(uri: str) -> Resource:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


@functools.cache
def registry() -> Registry:
    resources = []
    for path in SCHEMA_DIR.rglob("*.json"):
        contents = json.loads(path.read_text())
        url = "https://" + path.relative_to(SCHEMA_DIR).as_posix()
        resources.append((url, Resource.from_contents(contents)))
        if (sid := contents.get("$id", "").rstrip("#")) and sid != url:
            resources.append((sid, Resource.from_contents(contents)))
    return Registry(retrieve=_refuse_fetch).with_resources(resources).crawl()  # type: ignore[call-arg]


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """oneOf/anyOf errors hide their cause in .context: report the innermost ones."""
    if not error.context:
        yield error
    for sub in error.context:
        yield from _leaves(sub)


def validate_item(item: dict) -> list[str]:
    """Every schema error of a STAC item, as `<schema>: /<json path>: <message>`; [] if valid."""
    urls = [
        f"https://schemas.stacspec.org/v{item.get('stac_version')}/item-spec/json-schema/item.json",
        *item.get("stac_extensions", []),
    ]
    errors: list[str] = []
    for url in urls:
        try:
            schema = registry().contents(url)
        except NoSuchResource:
            errors.append(f"{url}: schema not available offline")
            continue
        for error in validator_for(schema)(schema, registry=registry()).iter_errors(item):
            for leaf in _leaves(error):
                if list(leaf.absolute_path) == ["type"] and leaf.validator == "const":
                    continue  # the Catalog/Collection branch of the core oneOf
                msg = f"{url}: /{'/'.join(map(str, leaf.absolute_path))}: {leaf.message}"
                if msg not in errors:
                    errors.append(msg)
    return errors

"""Kubernetes OpenAPI and CRDs -> kubeconform's JSON schemas (strict), offline.

    python deploy/k8s/schemas.py openapi <swagger.json> <out-dir>
    python deploy/k8s/schemas.py crd <crd.yaml>... --out <out-dir> [--keep-descriptions]

Layout: `<out-dir>/<group>/<kind>_<version>.json`, kind in lower case (kubeconform's
`-schema-location '<out-dir>/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'`),
the core group's directory being `v1` (kubeconform's `.Group` of `apiVersion: v1`).

Like kubeconform's own scripts/openapi2jsonschema.py (which we do not run: it downloads),
rewritten here: each kind's schema is standalone (the definitions it reaches are copied
into it, `$ref`s kept local), "strict" (every object schema that lists its properties and
says nothing of others gets `additionalProperties: false`, unless a CRD preserves unknown
fields there), int-or-string fields accept both, and a Quantity accepts a string or a number
(as the API server does). Descriptions are dropped (size) unless asked for.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REF = re.compile(r"^#/definitions/(.+)$")
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def _clean(node: Any, *, keep_descriptions: bool) -> Any:
    """Strictness, int-or-string, no descriptions (recursively)."""
    if isinstance(node, list):
        return [_clean(v, keep_descriptions=keep_descriptions) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description" and not keep_descriptions and isinstance(value, str):
            continue
        if key in ("properties", "patternProperties", "definitions") and isinstance(value, dict):
            out[key] = {k: _clean(v, keep_descriptions=keep_descriptions) for k, v in value.items()}
        else:
            out[key] = _clean(value, keep_descriptions=keep_descriptions)
    if out.get("format") == "int-or-string" or out.get("x-kubernetes-int-or-string"):
        for k in ("type", "format", "x-kubernetes-int-or-string"):
            out.pop(k, None)
        out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    preserve = out.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and (m := REF.match(ref)):
            found.add(m.group(1))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _write(out_dir: Path, group: str, version: str, kind: str, schema: dict[str, Any]) -> Path:
    path = out_dir / (group or version) / f"{kind.lower()}_{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    return path


def from_openapi(swagger: dict[str, Any], out_dir: Path) -> list[Path]:
    """One standalone schema per kind of a Kubernetes OpenAPI v2 document (swagger.json)."""
    definitions: dict[str, Any] = swagger["definitions"]
    definitions = {**definitions, QUANTITY: {"oneOf": [{"type": "string"}, {"type": "number"}]}}
    written = []
    for name, definition in sorted(definitions.items()):
        gvks = definition.get("x-kubernetes-group-version-kind") or []
        # the list types (DeploymentList...) and the admission/meta wrappers are not manifests
        if len(gvks) != 1 or name.endswith("List") or "apiVersion" not in definition.get("properties", {}):
            continue
        gvk = gvks[0]
        reached, todo = set(), _refs(definition)
        while todo:
            ref = todo.pop()
            if ref not in reached:
                reached.add(ref)
                todo |= _refs(definitions[ref]) - reached
        schema = {
            **definition,
            "definitions": {ref: definitions[ref] for ref in sorted(reached)},
        }
        schema = _clean(schema, keep_descriptions=False)
        # kind and apiVersion: the one this file is for
        schema["properties"]["kind"] = {"type": "string", "enum": [gvk["kind"]]}
        api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
        schema["properties"]["apiVersion"] = {"type": "string", "enum": [api_version]}
        schema["$schema"] = "http://json-schema.org/draft-04/schema#"
        written.append(_write(out_dir, gvk["group"], gvk["version"], gvk["kind"], schema))
    return written


def from_crd(crd: dict[str, Any], out_dir: Path, *, keep_descriptions: bool = False) -> list[Path]:
    """One schema per served version of a CustomResourceDefinition."""
    if crd.get("kind") != "CustomResourceDefinition":
        return []
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    written = []
    for version in crd["spec"]["versions"]:
        if not version.get("served", True) or "schema" not in version:
            continue
        schema = _clean(version["schema"]["openAPIV3Schema"], keep_descriptions=keep_descriptions)
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
        props["kind"] = {"type": "string", "enum": [kind]}
        props.setdefault("metadata", {"type": "object"})
        schema.setdefault("additionalProperties", False)
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
        schema["$schema"] = "http://json-schema.org/draft-04/schema#"
        written.append(_write(out_dir, group, version["name"], kind, schema))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("openapi", help="a Kubernetes swagger.json")
    p.add_argument("swagger", type=Path)
    p.add_argument("out", type=Path)
    c = sub.add_parser("crd", help="CustomResourceDefinition YAML files")
    c.add_argument("files", type=Path, nargs="+")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--keep-descriptions", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "openapi":
        written = from_openapi(json.loads(args.swagger.read_text()), args.out)
    else:
        written = []
        for f in args.files:
            for doc in yaml.safe_load_all(f.read_text()):
                if isinstance(doc, dict):
                    written += from_crd(doc, args.out, keep_descriptions=args.keep_descriptions)
    print(f"{len(written)} schemas written under {args.out}", file=sys.stderr)
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())

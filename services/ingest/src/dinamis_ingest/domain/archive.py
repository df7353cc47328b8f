"""Archive layout and manifest.

    archive/<collection>/<yyyy>/<mm>/<dd>/<scene id>/v<version>/<files...>
    archive/<collection>/<yyyy>/<mm>/<dd>/<scene id>/v<version>/manifest.json   (written last)

A scene version exists only once its manifest exists: readers look for the manifest,
never for the data files, so a half-written version is invisible. Versions are never
overwritten; a corrected redelivery becomes the next version and links the previous one.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dinamis_shared.events import Identifier, Sha256Hex
from dinamis_shared.hashing import sha256_text

MANIFEST = "manifest.json"
_VERSION_DIR = re.compile(r"/v(\d+)/manifest\.json$")


class ArchivedFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="Relative to the version prefix.")
    size: int
    sha256: Sha256Hex
    media_type: str
    role: str


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scene_id: Identifier
    version: int
    collection: Identifier
    supplier: Identifier
    supplier_product_id: Identifier
    delivery_fingerprint: Sha256Hex = Field(
        description="SHA-256 over the sorted (path, sha256) of the staged delivery: the same"
        " delivery twice has the same fingerprint."
    )
    supersedes_version: int | None = None
    created_at: AwareDatetime
    files: list[ArchivedFile]


def scene_prefix(collection: str, acquired: datetime, scene_id: str) -> str:
    return f"{collection}/{acquired:%Y/%m/%d}/{scene_id}/"


def version_prefix(scene: str, version: int) -> str:
    return f"{scene}v{version}/"


def manifest_versions(keys: list[str]) -> list[int]:
    """The versions that exist (have a manifest) among object keys of a scene prefix."""
    return sorted({int(m.group(1)) for k in keys if (m := _VERSION_DIR.search(k))})


def delivery_fingerprint(checksums: dict[str, str]) -> str:
    return sha256_text("".join(f"{path}\t{checksums[path]}\n" for path in sorted(checksums)))

"""SHA-256 of files and of text, the one way the platform computes checksums."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 8 << 20


def sha256_file(path: Path | str, chunk: int = CHUNK) -> str:
    """Hex SHA-256 of a file, read in chunks (archives are gigabytes)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str | bytes) -> str:
    """Hex SHA-256 of a string (UTF-8) or bytes."""
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()

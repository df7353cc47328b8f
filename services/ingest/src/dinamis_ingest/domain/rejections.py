"""Why a delivery is refused. Raised anywhere in the pipeline; the Kafka handler turns
it into a `scene-rejected` event and a dead-letter record (nothing is archived)."""

from __future__ import annotations

from dinamis_shared.errors import DinamisError
from dinamis_shared.events import RejectionReason


class DeliveryRejected(DinamisError):
    permanent = True
    http_status = 422

    def __init__(self, reason: RejectionReason, message: str) -> None:
        super().__init__(message, code=reason.value)
        self.reason = reason


def safe_join(base: str, href: str) -> str:
    """Resolve `href` (as written in a DIMAP file or a manifest) against the directory
    `base` of the package, refusing anything that could leave the package."""
    if not href or href.startswith(("/", "\\")) or "\\" in href or "\x00" in href or ":" in href:
        raise DeliveryRejected(RejectionReason.UNSAFE_PATH, f"unsafe path {href!r} in the package")
    parts = [p for p in (base.rstrip("/") + "/" + href).split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DeliveryRejected(RejectionReason.UNSAFE_PATH, f"path {href!r} leaves the package")
    return "/".join(parts)

"""What the ordering tests add to tests/browser/portal_stack.py (which starts orders,
catalog, ingest, delivery, notify and the portal): a clip area inside a scene."""

from __future__ import annotations


def inner_aoi(scene: dict, shrink: float = 0.3) -> dict:
    """A rectangle well inside the scene's bbox."""
    w, s, e, n = scene["bbox"]
    dx, dy = (e - w) * shrink, (n - s) * shrink
    w, s, e, n = w + dx, s + dy, e - dx, n - dy
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}

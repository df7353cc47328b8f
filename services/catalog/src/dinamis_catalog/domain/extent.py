"""A collection's extent, grown incrementally from its items (pure)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(value: str) -> str:
    """One spelling of instants ('...Z'), so that extents compare as times, not text."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def grown_collection(content: dict, item: dict) -> dict | None:
    """The collection document with its extent covering `item` too, or None if it does
    already. O(1) per item, not a scan of millions: the configured extent is replaced by
    the first item's (`dinamis:extent_from_items` marks it), then grown for each new one."""
    props = item.get("properties", {})
    start = props.get("start_datetime") or props.get("datetime")
    end = props.get("end_datetime") or props.get("datetime")
    bbox = list(item["bbox"][:2]) + list(item["bbox"][-2:]) if len(item["bbox"]) == 6 else list(item["bbox"])
    start, end = utc(start), utc(end)
    if content.get("dinamis:extent_from_items"):
        (w, s, e, n) = content["extent"]["spatial"]["bbox"][0]
        (t0, t1) = content["extent"]["temporal"]["interval"][0]
        bbox = [min(w, bbox[0]), min(s, bbox[1]), max(e, bbox[2]), max(n, bbox[3])]
        start, end = min(utc(t0), start), max(utc(t1), end)
    extent = {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[start, end]]}}
    if extent == content.get("extent"):
        return None
    return {**content, "extent": extent, "dinamis:extent_from_items": True}

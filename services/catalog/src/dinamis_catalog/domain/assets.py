"""Which assets of an item are public previews, and where their public copy is served."""

from __future__ import annotations

# Assets with one of these roles are served to anyone (thumbnails, quicklooks).
PUBLIC_ROLES = {"thumbnail", "overview"}
# A public preview keeps its archive href under this key (its `href` is the preview route).
ARCHIVE_HREF = "dinamis:archive_href"


def preview_href(base_url: str, collection: str, item_id: str, asset: str) -> str:
    return f"{base_url.rstrip('/')}/previews/{collection}/{item_id}/{asset}"


def with_public_previews(item: dict, public_url: str) -> dict:
    """Point thumbnails and quicklooks at the catalog's public preview route (the
    archive stays private); the archive href is kept beside it."""
    assets = {}
    for key, asset in item.get("assets", {}).items():
        if PUBLIC_ROLES & set(asset.get("roles", [])) and ARCHIVE_HREF not in asset:
            asset = {
                **asset,
                ARCHIVE_HREF: asset["href"],
                "href": preview_href(public_url, item["collection"], item["id"], key),
            }
        assets[key] = asset
    return {**item, "assets": assets}


def asset_hrefs(item: dict) -> set[str]:
    """Every href an item's assets are known by (public and archive)."""
    return {h for a in item.get("assets", {}).values() for h in (a.get("href"), a.get(ARCHIVE_HREF)) if h}

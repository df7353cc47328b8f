"""Public previews: thumbnails and quicklooks of every item, for the web map and
search results, without an account. Only assets with the `thumbnail` or `overview`
role are served; the images themselves stay private (signed URLs).

    GET /previews/{collection}/{item}/{asset}  ->  307 to a short-lived S3 URL
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response

from dinamis_catalog.bootstrap import Catalog
from dinamis_catalog.domain.assets import ARCHIVE_HREF, PUBLIC_ROLES
from dinamis_shared.health import problem_response

router = APIRouter(tags=["previews"])
TTL = timedelta(hours=1)


def _not_found() -> JSONResponse:
    return problem_response(404, "Not found", "Aperçu introuvable / no such preview", "preview-not-found")


@router.get("/previews/{collection}/{item_id}/{asset}")
async def preview(collection: str, item_id: str, asset: str, catalog: Catalog) -> Response:
    """A thumbnail or quicklook. Anyone may call it."""
    item = await catalog.pgstac.item(item_id, collection)
    found = (item or {}).get("assets", {}).get(asset)
    if not found or not PUBLIC_ROLES & set(found.get("roles", [])):
        return _not_found()
    href = found.get(ARCHIVE_HREF) or found["href"]
    path = urlsplit(href).path.lstrip("/")
    bucket, _, key = path.partition("/")
    if bucket != "archive" or not key or ".." in key.split("/"):
        return _not_found()
    url = await asyncio.to_thread(catalog.s3.presigned_get_object, bucket, key, expires=TTL)
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "public, max-age=600"})

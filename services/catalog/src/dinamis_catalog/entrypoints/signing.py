"""Access to archive objects by signed URLs, compatible with the public DINAMIS SDK
(`dinamis-sdk`): `POST /sign_urls` and `POST /sign_urls_put`, query parameters `urls`
(repeated) and `duration_seconds`, answering `{"hrefs": {url: signed}, "expiry": ...}`.

Who may read what is decided by the orders service from the current membership state:
the caller's credentials (bearer JWT or the SDK's `access-key`/`secret-key` headers) are
forwarded to `POST /v1/access/items` there. Nothing about memberships is copied here.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request

from dinamis_catalog.adapters.orders import forwarded_credentials
from dinamis_catalog.bootstrap import Catalog, CatalogContainer
from dinamis_catalog.domain.assets import asset_hrefs
from dinamis_catalog.settings import CatalogSettings
from dinamis_shared.auth import Forbidden, Principal, current_principal
from dinamis_shared.errors import DinamisError

router = APIRouter(tags=["signing"])
SIGNING_PATHS = ("/sign_urls", "/sign_urls_put")  # their OpenAPI says where to log in (app.py)
MAX_URLS = 100
UPLOAD_BUCKET = "uploads"
# archive/<collection>/<yyyy>/<mm>/<dd>/<scene>/v<n>/<file>
ARCHIVE_KEY = re.compile(
    r"^(?P<collection>[a-z0-9][a-z0-9-]*)/\d{4}/\d{2}/\d{2}/(?P<item>[A-Za-z0-9][A-Za-z0-9._:-]*)/v\d+/[^/]+$"
)


class SigningRefused(DinamisError):
    code = "signing-refused"
    http_status = 400


class UploadLimit(DinamisError):
    code = "upload-limit"
    http_status = 429
    message_fr = "Limite de dépôt atteinte."


class UploadWindow:
    """PUT URLs issued per user over the last hour (per process: each replica counts its
    own; with N replicas a user gets at most N times the limit)."""

    def __init__(self, per_hour: int, clock=time.monotonic) -> None:
        self.per_hour, self.clock = per_hour, clock
        self.issued: dict[str, deque[float]] = {}

    def take(self, user: str, n: int) -> None:
        now = self.clock()
        times = self.issued.setdefault(user, deque())
        while times and times[0] <= now - 3600:
            times.popleft()
        if len(times) + n > self.per_hour:
            raise UploadLimit(
                f"at most {self.per_hour} upload URLs per hour",
                message_fr=f"au plus {self.per_hour} URL de dépôt par heure",
            )
        times.extend([now] * n)
        if len(self.issued) > 10_000:  # bounded memory: forget idle users
            for key in [k for k, v in self.issued.items() if not v or v[-1] <= now - 3600]:
                del self.issued[key]


def _upload_window(request: Request, settings: CatalogSettings) -> UploadWindow:
    window = getattr(request.app.state, "upload_window", None)
    if window is None:
        window = request.app.state.upload_window = UploadWindow(settings.upload_urls_per_hour)
    return window


def _check_upload_folder(s3, prefix: str, settings: CatalogSettings) -> None:
    """Refuse new upload URLs once the user's folder holds too many objects or bytes."""
    count = size = 0
    for obj in s3.list_objects(UPLOAD_BUCKET, prefix=prefix, recursive=True):
        count += 1
        size += obj.size or 0
        if count >= settings.upload_max_objects or size >= settings.upload_max_bytes:
            raise UploadLimit(
                f"your upload folder is full ({settings.upload_max_objects} objects or "
                f"{settings.upload_max_bytes} bytes at most): delete some first",
                message_fr=f"votre dossier de dépôt est plein (au plus {settings.upload_max_objects} "
                f"objets ou {settings.upload_max_bytes} octets) : supprimez-en d'abord",
            )


class UnknownObject(DinamisError):
    code = "unknown-object"
    http_status = 404


def _expiry(
    duration_seconds: int | None, settings: CatalogSettings, access_until: datetime | None = None
) -> tuple[timedelta, datetime]:
    """The URLs' lifetime: the duration asked for (default, capped), and never past the end
    of the caller's membership or contract (`Principal.access_until`, from the records)."""
    cap = settings.sign_max_seconds
    seconds = settings.sign_default_seconds if duration_seconds is None else duration_seconds
    if seconds <= 0:
        raise SigningRefused(
            "duration_seconds must be positive", message_fr="duration_seconds doit être positif"
        )
    now = datetime.now(UTC)
    ttl = timedelta(seconds=min(seconds, cap))
    if access_until is not None:
        left = int((access_until - now).total_seconds())
        if left < 1:  # ended (or ends within the second): nothing to sign, not a near-zero URL
            raise Forbidden(
                "your access (membership or contract) has ended",
                code="access-ended",
                message_fr="votre accès (adhésion ou contrat) a pris fin",
            )
        ttl = min(ttl, timedelta(seconds=left))
    return ttl, now + ttl


def _split(url: str, settings: CatalogSettings) -> tuple[str, str]:
    """(bucket, key) of a URL on our object store, or a clear refusal."""
    if len(url) > 2048:
        raise SigningRefused("URL too long", message_fr="URL trop longue")
    parts = urlsplit(url)
    public = urlsplit(settings.s3_public_url)
    if (parts.scheme, parts.netloc) != (public.scheme, public.netloc):
        raise SigningRefused(
            f"not a DINAMIS storage URL (expected {settings.s3_public_url}/...): {url}",
            code="foreign-host",
            message_fr=f"URL hors du stockage DINAMIS ({settings.s3_public_url}/...) : {url}",
        )
    if parts.query or parts.fragment:
        raise SigningRefused(
            f"URL with a query or fragment: {url}", message_fr=f"URL avec paramètres : {url}"
        )
    bucket, _, key = parts.path.lstrip("/").partition("/")
    if not key or any(seg in ("", ".", "..") for seg in key.split("/")) or "\\" in key:
        raise SigningRefused(f"malformed object path: {url}", message_fr=f"chemin d'objet invalide : {url}")
    return bucket, key


async def _authenticate(request: Request) -> Principal:
    return await current_principal(request)


async def _items_of(catalog: CatalogContainer, keys: dict[str, str]) -> dict[str, str]:
    """url -> item id, checking that each object is an asset of a catalogued item."""
    out: dict[str, str] = {}
    for url, key in keys.items():
        match = ARCHIVE_KEY.match(key)
        if match is None:
            raise UnknownObject(
                f"not an archive asset path: {url}", message_fr=f"pas un fichier d'archive : {url}"
            )
        item = await catalog.pgstac.item(match["item"], match["collection"])
        if not item or url not in asset_hrefs(item):
            raise UnknownObject(
                f"no catalogue item has this asset: {url}",
                message_fr=f"aucune image du catalogue n'a ce fichier : {url}",
            )
        out[url] = match["item"]
    return out


def _check_count(urls: list[str]) -> list[str]:
    if not urls:
        raise SigningRefused("give at least one 'urls' parameter", message_fr="paramètre 'urls' manquant")
    if len(urls) > MAX_URLS:
        raise SigningRefused(
            f"at most {MAX_URLS} URLs per call", message_fr=f"au plus {MAX_URLS} URL par appel"
        )
    return urls


@router.post("/sign_urls")
async def sign_urls(
    request: Request,
    catalog: Catalog,
    urls: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI reads the default, never mutates it)
    duration_seconds: Annotated[int | None, Query()] = None,
) -> dict:
    """Signed GET URLs for archive assets. Callers: members of an active organisation (any
    item); contractors (items obtained by their commissioning body, during the delegation);
    staff. Default expiry 7 days, capped (`DINAMIS_CATALOG_SIGN_MAX_SECONDS`)."""
    principal = await _authenticate(request)
    settings = catalog.settings
    ttl, expiry = _expiry(duration_seconds, settings, principal.access_until)
    keys = {}
    for url in dict.fromkeys(_check_count(urls)):
        bucket, key = _split(url, settings)
        if bucket != "archive":
            raise SigningRefused(
                f"not an archive object: {url}",
                code="outside-archive",
                message_fr=f"objet hors de l'archive : {url}",
            )
        keys[url] = key
    items = await _items_of(catalog, keys)
    decisions = await catalog.orders.decisions(list(items.values()), forwarded_credentials(request.headers))
    refused = {
        url: decisions[item]["reason"] for url, item in items.items() if not decisions[item]["allowed"]
    }
    if refused:
        codes = {decisions[items[u]]["code"] for u in refused}
        fr, _, en = next(iter(refused.values())).partition(" / ")
        raise Forbidden(
            f"access refused: {en or fr}", code=sorted(codes)[0], message_fr=f"accès refusé : {fr}"
        )
    signed = {}
    for url, key in keys.items():
        signed[url] = await asyncio.to_thread(catalog.s3.presigned_get_object, "archive", key, expires=ttl)
    return {"hrefs": signed, "expiry": expiry.isoformat().replace("+00:00", "Z")}


@router.post("/sign_urls_put")
async def sign_urls_put(
    request: Request,
    catalog: Catalog,
    urls: Annotated[list[str], Query()] = [],  # noqa: B006
    duration_seconds: Annotated[int | None, Query()] = None,
) -> dict:
    """Signed PUT URLs under the caller's own upload prefix
    (`<storage>/uploads/<organisation>/<user>/...`), one object each. Callers: active
    members. Short-lived (`sign_put_max_seconds`, 15 min), at most `upload_urls_per_hour`
    per user, refused (429) once the folder holds `upload_max_objects` objects or
    `upload_max_bytes` bytes."""
    principal = await _authenticate(request)
    settings = catalog.settings
    put_seconds = min(duration_seconds or settings.sign_put_max_seconds, settings.sign_put_max_seconds)
    ttl, expiry = _expiry(put_seconds, settings, principal.access_until)
    standing = await catalog.orders.standing(forwarded_credentials(request.headers))
    if not standing["allowed"]:
        raise Forbidden(standing["reason"], code=standing["code"])
    prefix = f"{principal.member_organisation}/{principal.user_id}/"
    keys: dict[str, str] = {}
    for url in dict.fromkeys(_check_count(urls)):
        bucket, key = _split(url, settings)
        if bucket != UPLOAD_BUCKET or not key.startswith(prefix) or key == prefix:
            raise SigningRefused(
                f"uploads go under {settings.s3_public_url}/{UPLOAD_BUCKET}/{prefix}: {url}",
                code="outside-upload-prefix",
                message_fr=f"les dépôts se font sous {UPLOAD_BUCKET}/{prefix} : {url}",
            )
        keys[url] = key
    await asyncio.to_thread(_check_upload_folder, catalog.s3, prefix, settings)
    _upload_window(request, settings).take(principal.user_id, len(keys))
    signed = {}
    for url, key in keys.items():
        signed[url] = await asyncio.to_thread(
            catalog.s3.presigned_put_object, UPLOAD_BUCKET, key, expires=ttl
        )
    return {"hrefs": signed, "expiry": expiry.isoformat().replace("+00:00", "Z")}

"""The yearly note as a PDF: `GET /v1/notes/{year}.pdf`.

Public: the note holds aggregates only (the indicators' public breakdowns, cells of
fewer than the minimum of organisations suppressed). Rendered in a worker thread, one
at a time (a note is CPU work: a burst of callers must not take both cores), and
cached per (year, archive state): it is rebuilt only when the archive or the
indicators' versions changed. The year is checked before anything runs."""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from dinamis_reporting.bootstrap import Reporting
from dinamis_reporting.note import archive_state, collect, render
from dinamis_reporting.note.data import MIN_YEAR, check_year
from dinamis_shared.errors import DinamisError

router = APIRouter(prefix="/v1", tags=["reporting"])

PDF = "application/pdf"
_YEAR = re.compile(r"^[0-9]{4}$")


class BadNoteYear(DinamisError):
    code = "bad-note-year"
    http_status = 400


class NoteCache:
    """The rendered notes, by (year, archive state key), least recently used dropped
    first; one build at a time, and one per key (concurrent callers wait for it)."""

    def __init__(self, max_entries: int = 8) -> None:
        self.max_entries = max_entries
        self._pdfs: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._building: dict[tuple[int, str], asyncio.Lock] = {}
        self._one_at_a_time = asyncio.Semaphore(1)
        self.builds = 0

    def cached(self, key: tuple[int, str]) -> bytes | None:
        pdf = self._pdfs.get(key)
        if pdf is not None:
            self._pdfs.move_to_end(key)
        return pdf

    async def get(self, key: tuple[int, str], build: Callable[[], tuple[str, bytes]]) -> bytes:
        """The note of `key`, built by `build` (blocking: run in a thread; returns the
        state key it was computed on and the PDF) when not cached."""
        hit = self.cached(key)
        if hit is not None:
            return hit
        lock = self._building.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                hit = self.cached(key)
                if hit is not None:
                    return hit
                async with self._one_at_a_time:
                    built_key, pdf = await asyncio.to_thread(build)
                    self.builds += 1
                self._pdfs[(key[0], built_key)] = pdf
                while len(self._pdfs) > self.max_entries:
                    self._pdfs.popitem(last=False)
                return pdf
        finally:
            if not lock.locked():
                self._building.pop(key, None)


def note_cache(request: Request) -> NoteCache:
    cache = getattr(request.app.state, "note_cache", None)
    if not isinstance(cache, NoteCache):
        cache = NoteCache()
        request.app.state.note_cache = cache
    return cache


def parse_year(text: str) -> int:
    last = datetime.now(UTC).year + 1
    refusal = BadNoteYear(
        f"the note's year is a year from {MIN_YEAR} to {last}",
        message_fr=f"l'année de la note est une année de {MIN_YEAR} à {last}",
    )
    if not _YEAR.match(text):
        raise refusal
    year = int(text)
    try:
        check_year(year)
    except ValueError:
        raise refusal from None
    return year


@router.get(
    "/notes/{year}.pdf",
    summary="La note annuelle « État des lieux du dispositif DINAMIS » / the yearly note (PDF, French)",
    response_class=Response,
    responses={
        200: {
            "description": "La note (PDF, A4, en français)",
            "content": {PDF: {"schema": {"type": "string"}}},
        },
        400: {"description": "Année invalide / bad year"},
    },
)
async def note(reporting: Reporting, request: Request, year: str) -> Response:
    """The note "État des lieux du dispositif DINAMIS — année N" computed from the
    archive: key figures, one section per indicator (public breakdowns), the method.
    Anyone may call it (aggregates only). `ETag`: the archive's state."""
    y = parse_year(year)
    lake, indicators = reporting.lake, reporting.indicators
    await lake.refresh(max_age_s=reporting.settings.lake_refresh_s)
    state = await asyncio.to_thread(archive_state, lake.cursor(), indicators)
    etag = f'"note-{y}-{state.key}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=60",
        "Content-Disposition": f'attachment; filename="dinamis-etat-des-lieux-{y}.pdf"',
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)

    def build() -> tuple[str, bytes]:
        data = collect(lake.cursor(), indicators, y)
        return data.state.key, render(data)

    pdf = await note_cache(request).get((y, state.key), build)
    return Response(pdf, media_type=PDF, headers=headers)

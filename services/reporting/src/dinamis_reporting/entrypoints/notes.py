"""The yearly note as a PDF: `GET /v1/notes/{year}.pdf`.

Public: the note holds aggregates only (the indicators' public breakdowns, cells of
fewer than the minimum of organisations suppressed). Rendered in a worker thread, one
at a time (a note is CPU work: a burst of callers must not take both cores), and
cached per (year, archive state): it is rebuilt only when the archive or the
indicators' versions changed, and not more often than every `min_rebuild_s` per year.
The year is checked before anything runs."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as FastApiPath

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


@dataclass(frozen=True)
class BuiltNote:
    state_key: str  # the archive state it was computed on
    pdf: bytes
    built_at: float  # monotonic


class NoteCache:
    """The latest note of each year (at most one per valid year: bounded). A note is
    served while the archive's state is the one it was computed on, or while it is
    younger than `min_rebuild_s` (an archive that moves every few seconds must not make
    a public route rebuild a PDF per call: the note states the archive's state it was
    computed on, its ETag too). One build at a time, one per year."""

    def __init__(self, min_rebuild_s: float = 300.0) -> None:
        self.min_rebuild_s = min_rebuild_s
        self._notes: dict[int, BuiltNote] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._one_at_a_time = asyncio.Semaphore(1)
        self.builds = 0

    def _usable(self, year: int, state_key: str) -> BuiltNote | None:
        note = self._notes.get(year)
        if note is None:
            return None
        if note.state_key == state_key or time.monotonic() - note.built_at < self.min_rebuild_s:
            return note
        return None

    async def get(self, year: int, state_key: str, build: Callable[[], tuple[str, bytes]]) -> BuiltNote:
        """The note of `year` for the archive state `state_key`, built by `build`
        (blocking: run in a worker thread; returns the state key it computed on and
        the PDF) when none is usable."""
        note = self._usable(year, state_key)
        if note is not None:
            return note
        async with self._locks.setdefault(year, asyncio.Lock()):
            note = self._usable(year, state_key)
            if note is not None:
                return note
            async with self._one_at_a_time:
                built_key, pdf = await asyncio.to_thread(build)
                self.builds += 1
            note = BuiltNote(built_key, pdf, time.monotonic())
            self._notes[year] = note
            return note


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
            "description": "La note (PDF, A4, en français) / the note (PDF, A4, in French)",
            "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
        },
        304: {"description": "Inchangée (If-None-Match) / not modified"},
        400: {
            "description": "Année invalide / bad year (problem details, RFC 9457)",
            "content": {"application/problem+json": {"schema": {"type": "object"}}},
        },
    },
)
async def note(
    reporting: Reporting,
    request: Request,
    year: Annotated[str, FastApiPath(description="L'année de la note, de 2015 à l'an prochain / the year")],
) -> Response:
    """The note "État des lieux du dispositif DINAMIS — année N" computed from the
    archive: key figures, one section per indicator (public breakdowns), the method.
    Anyone may call it (aggregates only). `ETag`: the archive's state."""
    y = parse_year(year)
    lake, indicators = reporting.lake, reporting.indicators
    await lake.refresh(max_age_s=reporting.settings.lake_refresh_s, wait=False)
    state = await asyncio.to_thread(archive_state, lake.cursor(), indicators)

    def build() -> tuple[str, bytes]:
        data = collect(lake.cursor(), indicators, y)
        return data.state.key, render(data)

    note = await note_cache(request).get(y, state.key, build)
    etag = f'"note-{y}-{note.state_key}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=60",
        "Content-Disposition": f'attachment; filename="dinamis-etat-des-lieux-{y}.pdf"',
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(note.pdf, media_type=PDF, headers=headers)

"""The yearly French PDF note "État des lieux du dispositif DINAMIS — année N":
`data.collect` computes its figures from the lake (public breakdowns, suppression by
the engine), `layout.render` lays them out (reportlab), `build` does both."""

from __future__ import annotations

from datetime import datetime

import duckdb

from dinamis_reporting.indicators.engine import Indicators
from dinamis_reporting.note.data import ArchiveState, NoteData, archive_state, collect
from dinamis_reporting.note.layout import render

__all__ = ["ArchiveState", "NoteData", "archive_state", "build", "collect", "render"]


def build(
    con: duckdb.DuckDBPyConnection,
    indicators: Indicators,
    year: int,
    *,
    generated_at: datetime | None = None,
) -> bytes:
    """The note of `year` as PDF bytes (blocking)."""
    return render(collect(con, indicators, year, generated_at=generated_at))

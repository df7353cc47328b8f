"""The yearly PDF note from a scripted event set: cloudevents.encode → the real
ArchiveWriter → an in-memory object store → the Lake → the engine → the note, whose
pages are turned into PNG (pypdfium2) and whose text is checked against figures
computed by hand from the scenario below.

The indicator files are TEST-ONLY, the scenario's figures never moving with the package's
indicators: `note_sql/` (a frozen copy of the first `base_10_state` and
`members_organisations`) plus ones written to a temporary directory (`members_users`, a contract name, and
`aaa_events`, a name outside the contract that must come after the contract's)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pypdfium2 as pdfium
import pytest
from fastapi import FastAPI
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from dinamis_reporting.archive.consumer import ArchiveConsumer
from dinamis_reporting.archive.store import StoredObject
from dinamis_reporting.archive.writer import ArchiveWriter, Record
from dinamis_reporting.bootstrap import ReportingContainer
from dinamis_reporting.entrypoints import notes
from dinamis_reporting.indicators.engine import Indicators
from dinamis_reporting.lake import Lake
from dinamis_reporting.note import archive_state, build, cli
from dinamis_reporting.note.fonts import CANDIDATES, register
from dinamis_reporting.settings import ReportingSettings
from dinamis_shared import cloudevents
from dinamis_shared.events import Event, OrganisationChangedV1, UserChangedV1
from dinamis_shared.health import install_problem_handlers

ARTIFACTS = Path(__file__).resolve().parents[3] / ".artifacts" / "reporting"
NOTE_SQL = Path(__file__).resolve().parent / "note_sql"
GENERATED = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
YEAR = 2025

USERS_SQL = """-- name: members_users
-- version: 1
-- title_fr: Utilisateurs actifs (test)
-- title_en: Active users (test)
-- definition_fr: Utilisateurs dont le compte est actif, par année de création du compte.
-- definition_en: Users whose account is active, by year of creation and category of their organisation.
-- unit: utilisateurs
-- dimensions: year, category
-- public_dimensions: year, category
-- privacy: organisations
-- measure: users_active = count(DISTINCT user_id) FILTER (WHERE active) | utilisateurs | {label}
SELECT
    u.data->>'$.user_id' AS user_id,
    u.data->>'$.organisation_id' AS organisation_id,
    o.category,
    arg_max(CAST(u.data->>'$.active' AS BOOLEAN), CAST(u.data->>'$.revision' AS INTEGER)) AS active,
    CAST(year(min(CAST(u.data->>'$.changed_at' AS TIMESTAMPTZ))) AS VARCHAR) AS year
FROM events u
JOIN organisations o ON o.organisation_id = u.data->>'$.organisation_id'
WHERE u.type = 'fr.dinamis.user-changed.v1'
GROUP BY 1, 2, 3
""".format(label="Utilisateurs actifs | Active users")
EVENTS_SQL = """-- name: aaa_events
-- version: 3
-- title_fr: Événements archivés (test)
-- title_en: Archived events (test)
-- definition_fr: Événements de la plateforme archivés, par année de leur date.
-- definition_en: Archived platform events, by year of their time.
-- unit: événements
-- dimensions: year
-- public_dimensions: year
-- privacy: none
-- measure: events = count(*) | événements | Événements | Events
SELECT CAST(year(time) AS VARCHAR) AS year FROM events
"""
STATES_SQL = """-- name: zz_states
-- version: 1
-- title_fr: Changements d'état des adhésions (test)
-- title_en: Membership state changes (test)
-- definition_fr: Événements de changement d'une organisation, par état atteint, sur toute la période.
-- definition_en: Organisation change events, by the state reached, over the whole period.
-- unit: changements
-- dimensions: state
-- public_dimensions: state
-- privacy: none
-- measure: changes = count(*) | changements | Changements | Changes
SELECT data->>'$.status' AS state FROM events WHERE type = 'fr.dinamis.organisation-changed.v1'
"""


class MemoryStore:
    """The archive's ObjectStore port, in memory."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    async def get(self, key: str) -> bytes:
        return self.objects[key]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def list(self, prefix: str = "") -> list[StoredObject]:
        return [
            StoredObject(k, hashlib.md5(v).hexdigest(), len(v))
            for k, v in sorted(self.objects.items())
            if k.startswith(prefix)
        ]


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=UTC)


def org(oid: str, category: str, status: str, when: datetime, revision: int) -> OrganisationChangedV1:
    return OrganisationChangedV1(
        organisation_id=oid,
        revision=revision,
        name=f"Organisation {oid}",
        category=category,
        status=status,
        department="31",
        changed_by="admin",
        changed_at=when,
    )


def user(uid: str, oid: str, active: bool, when: datetime, revision: int) -> UserChangedV1:
    return UserChangedV1(
        user_id=uid,
        revision=revision,
        organisation_id=oid,
        email=f"{uid}@example.org",
        display_name=f"Personne {uid}",
        roles=["member"],
        active=active,
        changed_by="referent",
        changed_at=when,
    )


def scenario() -> list[Event]:
    """2023: 2 private R&D firms (p1, p2) approved. 2024: 3 public bodies (a1-a3) and 3
    research labs (r1-r3) approved; users u6 (a1), u7 (a2), u8 (r1). 2025: 4 public
    bodies approved (a4-a7), a fifth (a8) approved then suspended, one research lab (r4),
    two contractors (c1, c2); users u1, u2 (a4), u3 (a5), u4 (a6), u5 (a7, deactivated
    the same year)."""
    events: list[Event] = []
    for oid in ("p1", "p2"):
        cat = "french-private-rd"
        events += [org(oid, cat, "pending", at(2023, 1, 9), 1), org(oid, cat, "active", at(2023, 2, 1), 2)]
    first = [("a1", "french-public"), ("a2", "french-public"), ("a3", "french-public")]
    first += [("r1", "french-research"), ("r2", "french-research"), ("r3", "french-research")]
    for oid, cat in first:
        events += [org(oid, cat, "pending", at(2024, 2, 1), 1), org(oid, cat, "active", at(2024, 3, 1), 2)]
    second = [(f"a{n}", "french-public") for n in (4, 5, 6, 7, 8)]
    second += [("r4", "french-research"), ("c1", "contractor"), ("c2", "contractor")]
    for oid, cat in second:
        events += [org(oid, cat, "pending", at(2025, 4, 1), 1), org(oid, cat, "active", at(2025, 5, 1), 2)]
    events.append(org("a8", "french-public", "suspended", at(2025, 9, 1), 3))
    events += [user("u6", "a1", True, at(2024, 3, 2), 1), user("u7", "a2", True, at(2024, 3, 2), 1)]
    events += [user("u8", "r1", True, at(2024, 3, 2), 1)]
    events += [user("u1", "a4", True, at(2025, 5, 2), 1), user("u2", "a4", True, at(2025, 5, 2), 1)]
    events += [user("u3", "a5", True, at(2025, 5, 2), 1), user("u4", "a6", True, at(2025, 5, 2), 1)]
    events += [user("u5", "a7", True, at(2025, 5, 2), 1), user("u5", "a7", False, at(2025, 6, 2), 2)]
    return events


# Counted by hand from `scenario`: 2023: 2 organisations x 2 events = 4; 2024: 6 x 2
# + 3 users = 15; 2025: 8 x 2 + 1 suspension + 6 user events = 23.
EVENTS_2023, EVENTS_2024, EVENTS_2025 = 4, 15, 23
EVENTS = EVENTS_2023 + EVENTS_2024 + EVENTS_2025


def _when(event: Event) -> datetime:
    when = getattr(event, "changed_at")  # noqa: B009 - both event types carry it
    assert isinstance(when, datetime)
    return when


async def archive(events: list[Event]) -> MemoryStore:
    store = MemoryStore()
    writer = ArchiveWriter(store)
    records = []
    for offset, event in enumerate(events):
        rec = cloudevents.encode(event, source="test", event_id=f"ev-{offset}", time=_when(event))
        headers = [(k, v.encode()) for k, v in rec.headers.items()]
        records.append(Record(rec.topic, 0, offset, rec.key, rec.value, headers))
    result = await writer.write(records)
    assert result.written == len(events) and result.rejected == 0
    # Replayed from offset 0: the archive does not change.
    assert (await writer.write(records)).written == 0
    return store


@pytest.fixture(scope="module")
def sql_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sql")
    for name in ("base_10_state.sql", "members_organisations.sql"):
        shutil.copy(NOTE_SQL / name, path / name)
    (path / "members_users.sql").write_text(USERS_SQL)
    (path / "aaa_events.sql").write_text(EVENTS_SQL)
    (path / "zz_states.sql").write_text(STATES_SQL)
    return path


@pytest.fixture(scope="module")
async def lake(sql_dir: Path) -> Lake:
    store = await archive(scenario())
    lake = Lake(store, ":memory:")
    await lake.refresh()
    return lake


@pytest.fixture(scope="module")
def indicators(sql_dir: Path, lake: Lake) -> Indicators:
    ind = Indicators(sql_dir=sql_dir)
    ind.prepare(lake.con)
    return ind


@pytest.fixture(scope="module")
def pdf(lake: Lake, indicators: Indicators) -> bytes:
    return build(lake.cursor(), indicators, YEAR, generated_at=GENERATED)


@pytest.fixture(scope="module")
def pages(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    texts = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for n in range(len(doc)):
        page = doc[n]
        texts.append(page.get_textpage().get_text_range().replace("\r\n", "\n"))
        if n < 8:
            page.render(scale=1.5).to_pil().save(ARTIFACTS / f"note-page-{n + 1}.png")
    return texts


def squash(text: str) -> str:
    """Text with every kind of blank as one space (table cells, no-break spaces)."""
    return re.sub(r"\s+", " ", text.replace("\u00a0", " "))


def test_title_page(pages: list[str]) -> None:
    cover = squash(pages[0])
    assert "État des lieux du dispositif DINAMIS — année 2025" in cover
    assert "Généré le 15 janvier 2026 à 09:30 UTC" in cover
    assert "Document généré automatiquement à partir des événements de la plateforme" in cover
    # The archive's state: 42 events (4 + 15 + 23), the last on 1 September 2025 (a8 suspended).
    assert f"{EVENTS} événements" in cover
    assert "dernier événement le 1er septembre 2025 à 10:00 UTC" in cover
    assert "members_organisations v1, members_users v1, aaa_events v3, zz_states v1" in cover


def test_contents_and_order(pages: list[str]) -> None:
    text = squash(" ".join(pages))
    assert "Sommaire" in squash(pages[1])
    # Contract names first (in the contract's order), then the others by name.
    positions = [
        text.index(f"{n}. {t}", text.index("Chiffres clés de l'année 2025", 200))
        for n, t in [
            (1, "Organisations adhérentes"),
            (2, "Utilisateurs actifs (test)"),
            (3, "Événements archivés (test)"),
            (4, "Changements d'état des adhésions (test)"),
        ]
    ]
    assert positions == sorted(positions)
    assert text.rindex("Méthode et définitions") > positions[-1]
    for title in (
        "L'archive des événements",
        "Idempotence et reproductibilité",
        "Secret statistique",
        "Valeur de l'imagerie et table de prix",
        "Ce que ces chiffres ne couvrent pas",
    ):
        assert title in text


def test_key_figures(pages: list[str]) -> None:
    page = next(squash(p) for p in pages if "Chiffres clés de l'année 2025" in p and "Évolution" in p)
    # Active organisations by year of approval: 2023 p1, p2 (2 < 3: suppressed), so the
    # smallest other year, 2024 (a1-a3, r1-r3: 6), is suppressed with it (else 2023 =
    # total - 2024 - 2025); 2025: a4-a7, r4, c1, c2 = 7 (a8 suspended).
    assert "Organisations adhérentes Organisations actives s 7 —" in page
    # Active users by year of creation: 2024 u6-u8 = 3; 2025 u1-u4 = 4 (u5 deactivated).
    assert "Utilisateurs actifs (test) Utilisateurs actifs 3 4 +33,3 %" in page
    # Events by year (no organisation: never suppressed): 15 then 23, +53.3 %.
    assert f"Événements archivés (test) Événements {EVENTS_2024} {EVENTS_2025} +53,3 %" in page


def test_tables_and_suppression(pages: list[str]) -> None:
    text = squash(" ".join(pages))
    # Five years, 2021 to 2025: none approved before 2023 ("—"), 2023 and 2024 suppressed.
    assert "Par année, 2021 à 2025" in text
    assert "2021 — 2022 — 2023 s 2024 s 2025 7" in text
    # 2025 by category: contractors c1, c2 (2 < 3) and research r4 (1) suppressed; public
    # bodies a4-a7 active (a8 suspended) suppressed too: a public filter is a breakdown, the
    # year × category table is suppressed as a whole, and in the public bodies' column
    # 2023 and 2024 hide fewer than 3 distinct organisations together (their sum would
    # be the category's total minus 2025): 2025, the smallest shown cell, goes with them.
    assert (
        "Par catégorie, année 2025 Catégorie Organisations actives"
        " Acteurs publics s Prestataires de la commande publique s Recherche française s"
    ) in text
    assert "secret statistique : moins de 3 organisations" in text
    # Users by year (with the organisations concerned: 3 in 2024, 4 in 2025).
    assert "2024 3 3 2025 4 4" in text
    # Not published by year: by state over the whole period; 16 organisations applied
    # (2 + 6 + 8) and were approved, one was suspended.
    assert "Par état État Changements active 16 en attente 16 suspendue 1" in text


def test_fonts_embedded_and_accents(pdf: bytes, pages: list[str]) -> None:
    fonts = register()
    base_fonts = set(re.findall(rb"/BaseFont /([A-Za-z0-9+\-]+)", pdf))
    assert base_fonts, "no font in the PDF"
    # Every font is an embedded TrueType subset of the registered family (no Helvetica).
    assert all(re.match(rb"^[A-Z]{6}\+", f) for f in base_fonts), base_fonts
    assert pdf.count(b"/FontFile2") >= len(base_fonts)
    assert not {b"Helvetica", b"Times-Roman", b"Courier"} & {f.split(b"+")[-1] for f in base_fonts}
    # Every character of the note has a glyph in the font (no box): its accents too.
    face = pdfmetrics.getFont(fonts.regular).face
    text = "".join(pages)
    assert {"É", "é", "è", "à", "ç", "—"} <= set(text)
    missing = {c for c in text if c.strip() and ord(c) not in face.charToGlyph}
    assert not missing, missing


def test_pages_rendered(pdf: bytes, pages: list[str]) -> None:
    doc = pdfium.PdfDocument(pdf)
    width, height = doc[0].get_size()
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    assert len(pages) >= 5
    assert "page 2 / " in pages[1]
    assert (ARTIFACTS / "note-page-1.png").stat().st_size > 10_000


def test_reproducible(lake: Lake, indicators: Indicators, pdf: bytes) -> None:
    """Same archive, same generation date → the same bytes; the state is the cache key."""
    assert build(lake.cursor(), indicators, YEAR, generated_at=GENERATED) == pdf
    state = archive_state(lake.cursor(), indicators)
    assert state.events == EVENTS
    assert state.last_event == at(2025, 9, 1)
    assert state.key == archive_state(lake.cursor(), indicators).key


# The route `GET /v1/notes/{year}.pdf`, on an app of its own (no stack).


@pytest.fixture(scope="module")
async def api(sql_dir: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ReportingContainer, FastAPI]]:
    store = await archive(scenario())
    settings = ReportingSettings(lake_refresh_s=0, archive_enabled=False)
    writer = ArchiveWriter(store)
    lake = Lake(store, ":memory:")
    indicators = Indicators(sql_dir=sql_dir)
    indicators.prepare(lake.con)
    container = ReportingContainer(
        settings=settings,
        store=store,
        writer=writer,
        consumer=ArchiveConsumer(writer, settings),
        lake=lake,
        indicators=indicators,
    )
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(notes.router)
    app.state.container = container
    app.state.note_cache = notes.NoteCache(min_rebuild_s=3600)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client, container, app


async def test_route_serves_the_note_and_caches_it(
    api: tuple[httpx.AsyncClient, ReportingContainer, FastAPI],
) -> None:
    client, container, app = api
    first = await client.get("/v1/notes/2025.pdf")
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "application/pdf"
    assert first.headers["content-disposition"] == 'attachment; filename="dinamis-etat-des-lieux-2025.pdf"'
    text = squash(pdfium.PdfDocument(first.content)[0].get_textpage().get_text_range())
    assert "État des lieux du dispositif DINAMIS — année 2025" in text
    assert f"{EVENTS} événements" in text
    cache: notes.NoteCache = app.state.note_cache
    assert cache.builds == 1
    # Same archive: the same PDF, not rebuilt; a conditional request gets a 304.
    again = await client.get("/v1/notes/2025.pdf")
    assert again.content == first.content and cache.builds == 1
    etag = first.headers["etag"]
    assert (await client.get("/v1/notes/2025.pdf", headers={"If-None-Match": etag})).status_code == 304
    # Concurrent callers for another year: built once.
    both = await asyncio.gather(*(client.get("/v1/notes/2024.pdf") for _ in range(3)))
    assert {r.status_code for r in both} == {200} and cache.builds == 2
    # A new event archived: within `min_rebuild_s`, the note already built is served
    # (it states its own archive state); past it, the note is rebuilt on the new state.
    late = org("a9", "french-public", "pending", at(2025, 11, 1), 1)
    rec = cloudevents.encode(late, source="test", event_id="ev-late", time=at(2025, 11, 1))
    headers = [(k, v.encode()) for k, v in rec.headers.items()]
    await container.writer.write([Record(rec.topic, 0, 999, rec.key, rec.value, headers)])
    same = await client.get("/v1/notes/2025.pdf")
    assert same.content == first.content and same.headers["etag"] == etag and cache.builds == 2
    cache.min_rebuild_s = 0
    newer = await client.get("/v1/notes/2025.pdf")
    assert newer.status_code == 200 and cache.builds == 3 and newer.headers["etag"] != etag
    text = squash(pdfium.PdfDocument(newer.content)[0].get_textpage().get_text_range())
    assert f"{EVENTS + 1} événements" in text
    assert "dernier événement le 1er novembre 2025" in text
    assert (await client.get("/v1/notes/2025.pdf")).content == newer.content and cache.builds == 3


BAD_YEARS = ["2014", "1999", str(datetime.now(UTC).year + 2), "abcd", "20251", "-2025", "%20025", "２０２５"]


@pytest.mark.parametrize("year", BAD_YEARS)
async def test_route_refuses_a_bad_year(
    api: tuple[httpx.AsyncClient, ReportingContainer, FastAPI], year: str
) -> None:
    client, _, app = api
    before = app.state.note_cache.builds
    response = await client.get(f"/v1/notes/{year}.pdf")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "bad-note-year"
    assert problem["detail"].startswith("l'année de la note est une année de 2015 à")
    english = await client.get(f"/v1/notes/{year}.pdf", headers={"Accept-Language": "en"})
    assert english.json()["detail"].startswith("the note's year is a year from 2015 to")
    assert app.state.note_cache.builds == before


async def test_route_without_the_pdf_suffix_is_not_found(
    api: tuple[httpx.AsyncClient, ReportingContainer, FastAPI],
) -> None:
    client, _, _ = api
    assert (await client.get("/v1/notes/2025")).status_code == 404
    assert (await client.get("/v1/notes/2025.pdf/../../indicators")).status_code == 404


# The CLI `dinamis-reporting-note`, on the in-memory store instead of S3.


def test_cli_renders_the_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sql_dir: Path) -> None:
    store = asyncio.run(archive(scenario()))
    monkeypatch.setattr(cli, "s3_client", lambda settings: None)
    monkeypatch.setattr(cli, "S3ObjectStore", lambda client, bucket: store)
    monkeypatch.setattr(cli, "Indicators", lambda **kw: Indicators(sql_dir=sql_dir, **kw))
    out = tmp_path / "note.pdf"
    assert cli.main(["--year", "2025", "--out", str(out)]) == 0
    text = squash(pdfium.PdfDocument(out.read_bytes())[0].get_textpage().get_text_range())
    assert "État des lieux du dispositif DINAMIS — année 2025" in text
    assert f"{EVENTS} événements" in text
    with pytest.raises(SystemExit):
        cli.main(["--year", "2014", "--out", str(out)])


def test_fallback_font_covers_the_note(pages: list[str]) -> None:
    """Without Debian's DejaVu, the note falls back on the Vera files reportlab ships:
    they exist and have a glyph for every character of the note."""
    family, regular, bold, italic = CANDIDATES[-1]
    assert family == "Vera" and regular.is_file() and bold.is_file() and italic.is_file()
    for path in (regular, bold, italic):
        face = TTFont(f"check-{path.stem}", str(path)).face
        missing = {c for c in "".join(pages) if c.strip() and ord(c) not in face.charToGlyph}
        assert not missing, (path.name, missing)


BROKEN_SQL = """-- name: broken_one
-- version: 1
-- title_fr: Indicateur en panne (test)
-- title_en: Broken indicator (test)
-- definition_fr: Une requête qui échoue à l'exécution.
-- definition_en: A query that fails when run.
-- dimensions: year
-- public_dimensions: year
-- measure: n = count(*) | faits | Faits | Facts
SELECT CAST('deux mille' AS INTEGER) AS year, 'o' AS organisation_id FROM events
"""


def test_a_failing_indicator_does_not_take_the_note_down(lake: Lake, tmp_path: Path) -> None:
    for name in ("base_10_state.sql", "members_organisations.sql"):
        shutil.copy(NOTE_SQL / name, tmp_path / name)
    (tmp_path / "broken_one.sql").write_text(BROKEN_SQL)
    indicators = Indicators(sql_dir=tmp_path)
    pdf = build(lake.cursor(), indicators, YEAR, generated_at=GENERATED)
    doc = pdfium.PdfDocument(pdf)
    text = squash(" ".join(doc[n].get_textpage().get_text_range() for n in range(len(doc))))
    assert "2. Indicateur en panne (test)" in text
    assert "Indicateur non calculé : sa requête a échoué sur cette archive" in text
    # The other indicator is there, with its figures (2025: 7 active organisations).
    assert "Organisations adhérentes Organisations actives s 7 —" in text

"""Renders the note (`NoteData`) to a PDF: A4, French, TrueType fonts embedded, a
title page, a table of contents, the key figures, one section per indicator (its
definition, tables and charts, suppressed cells shown as "s"), then the method.

reportlab's platypus lays the pages out; its own graphics draw the charts (no
matplotlib). `invariant` output: the same data (same generation date) gives the same
bytes."""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as PdfTable
from reportlab.platypus.tableofcontents import TableOfContents

from dinamis_reporting.note.data import (
    CATEGORY_LABELS,
    DIM_LABELS,
    KeyFigure,
    NoteData,
    Section,
    Table,
    value_label,
)
from dinamis_reporting.note.fonts import Fonts, register

BLUE = colors.HexColor("#000091")  # the French State's blue
GREY = colors.HexColor("#666666")
LIGHT = colors.HexColor("#eeeef8")
SERIES = [colors.HexColor(c) for c in ("#000091", "#e1000f", "#18753c", "#b34000", "#695240")]
MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
NBSP = "\u00a0"


def title(year: int) -> str:
    return f"État des lieux du dispositif DINAMIS — année {year}"


def french_date(when: datetime, *, time: bool = True) -> str:
    day = "1er" if when.day == 1 else str(when.day)
    text = f"{day} {MONTHS[when.month - 1]} {when.year}"
    return f"{text} à {when:%H:%M} UTC" if time else text


def number(value: Any) -> str:
    """French number: thin groups of three, decimal comma; "s" stays "s"."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float) and not value.is_integer():
        digits = 2 if abs(value) < 10 else 1
        text = f"{value:,.{digits}f}"
    else:
        text = f"{round(value):,d}"
    return text.replace(",", NBSP).replace(".", ",")


def variation(previous: Any, current: Any) -> str:
    if not isinstance(previous, int | float) or not isinstance(current, int | float) or previous == 0:
        return "—"
    pct = (current - previous) / abs(previous) * 100
    return f"{'+' if pct >= 0 else '−'}{number(round(abs(pct), 1))}{NBSP}%"


class Styles:
    def __init__(self, fonts: Fonts) -> None:
        base = ParagraphStyle("body", fontName=fonts.regular, fontSize=9.5, leading=13)
        self.fonts = fonts
        self.body = base
        self.small = ParagraphStyle("small", base, fontSize=7.5, leading=9.5, textColor=GREY)
        self.cell = ParagraphStyle("cell", base, fontSize=8, leading=10)
        self.head = ParagraphStyle("head", self.cell, fontName=fonts.bold, textColor=colors.white)
        self.head_r = ParagraphStyle("head_r", self.head, alignment=TA_RIGHT)
        bold = ParagraphStyle("bold", base, fontName=fonts.bold)
        self.h1 = ParagraphStyle(
            "H1", bold, fontSize=15, leading=19, textColor=BLUE, spaceBefore=4, spaceAfter=8
        )
        self.h2 = ParagraphStyle("H2", bold, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4)
        self.h3 = ParagraphStyle("H3", bold, fontSize=9.5, leading=12, spaceBefore=6, spaceAfter=3)
        self.cover = ParagraphStyle(
            "cover", base, fontName=fonts.bold, fontSize=24, leading=30, textColor=BLUE, alignment=TA_CENTER
        )
        self.cover_sub = ParagraphStyle("cover_sub", base, fontSize=12, leading=16, alignment=TA_CENTER)
        self.toc = [
            ParagraphStyle("toc1", base, fontSize=10, leading=14, leftIndent=0),
            ParagraphStyle("toc2", base, fontSize=9, leading=12, leftIndent=14),
        ]


class _NumberedCanvas(Canvas):
    """Defers pages to write "page n / total" once the total is known."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Never Helvetica (a standard font: not embedded, not Unicode), even unused.
        kwargs["initialFontName"] = register().regular
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            if self._pageNumber > 1:
                self.setFont(register().regular, 7.5)
                self.setFillColor(GREY)
                self.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"page {self._pageNumber} / {total}")
            super().showPage()
        super().save()


class _Doc(BaseDocTemplate):
    def __init__(self, buffer: io.BytesIO, note: NoteData, styles: Styles) -> None:
        super().__init__(
            buffer,
            pagesize=A4,
            leftMargin=2 * cm,
            rightMargin=2 * cm,
            topMargin=2.2 * cm,
            bottomMargin=2 * cm,
            title=title(note.year),
            author="DINAMIS",
            subject="Document généré automatiquement à partir des événements de la plateforme",
            creator="dinamis-reporting",
            lang="fr-FR",
            invariant=1,
        )
        self.note = note
        self.styles = styles
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        self.addPageTemplates(
            [
                PageTemplate("cover", [frame], onPage=self._cover_page),
                PageTemplate("content", [frame], onPage=self._content_page),
            ]
        )

    def _cover_page(self, canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFillColor(BLUE)
        canvas.rect(0, A4[1] - 1.2 * cm, A4[0], 1.2 * cm, stroke=0, fill=1)
        canvas.restoreState()

    def _content_page(self, canvas: Canvas, doc: BaseDocTemplate) -> None:
        fonts = self.styles.fonts
        canvas.saveState()
        canvas.setStrokeColor(BLUE)
        canvas.setLineWidth(0.6)
        canvas.line(2 * cm, A4[1] - 1.5 * cm, A4[0] - 2 * cm, A4[1] - 1.5 * cm)
        canvas.setFont(fonts.regular, 7.5)
        canvas.setFillColor(GREY)
        canvas.drawString(2 * cm, A4[1] - 1.3 * cm, title(self.note.year))
        canvas.drawRightString(A4[0] - 2 * cm, A4[1] - 1.3 * cm, "DINAMIS — CNIG")
        canvas.drawString(
            2 * cm,
            1.2 * cm,
            f"Généré le {french_date(self.note.generated_at)} — archive {self.note.state.fingerprint}",
        )
        canvas.restoreState()

    def afterFlowable(self, flowable: Flowable) -> None:  # reportlab's name
        if isinstance(flowable, Paragraph) and flowable.style.name in ("H1", "H2"):
            level = 0 if flowable.style.name == "H1" else 1
            text = flowable.getPlainText()
            key = f"h{id(flowable)}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(text, key, level=level, closed=level > 0)
            self.notify("TOCEntry", (level, text, self.page, key))


def render(note: NoteData) -> bytes:
    """The note as PDF bytes (blocking: run it in a thread)."""
    styles = Styles(register())
    buffer = io.BytesIO()
    doc = _Doc(buffer, note, styles)
    story = _cover(note, styles)
    story += [NextPageTemplate("content"), PageBreak()]
    toc = TableOfContents(levelStyles=styles.toc, dotsMinLevel=0)
    toc.tableStyle = TableStyle([("FONT", (0, 0), (-1, -1), styles.fonts.regular, 9), *toc.tableStyle._cmds])
    story += [Paragraph("Sommaire", ParagraphStyle("toc_title", styles.h1)), toc, PageBreak()]
    story += _key_figures(note, styles)
    story += [
        _p("Les indicateurs", styles.h1),
        _p(
            "Un chapitre par indicateur du catalogue : sa définition, ses valeurs par année sur cinq ans"
            f" puis, pour {note.year}, par chacune de ses ventilations publiques.",
            styles.body,
        ),
    ]
    for n, section in enumerate(note.sections, start=1):
        story += _section(n, section, note, styles)
    story += _method(note, styles)
    doc.multiBuild(story, canvasmaker=_NumberedCanvas)
    return buffer.getvalue()


_FRENCH_SPACES = re.compile(r" ([:;!?»%])|(«) ")


def french_spacing(text: str) -> str:
    """No-break spaces where French typography puts them (before : ; ! ? » %, after «):
    a line never starts with one of these signs."""
    return _FRENCH_SPACES.sub(lambda m: f"{NBSP}{m[1]}" if m[1] else f"{m[2]}{NBSP}", text)


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(french_spacing(text)), style)


def _cover(note: NoteData, s: Styles) -> list[Flowable]:
    state = note.state
    last = french_date(state.last_event) if state.last_event else "aucun événement"
    return [
        Spacer(1, 5 * cm),
        _p(title(note.year), s.cover),
        Spacer(1, 1.2 * cm),
        _p(f"Généré le {french_date(note.generated_at)}", s.cover_sub),
        Spacer(1, 0.4 * cm),
        _p("Document généré automatiquement à partir des événements de la plateforme", s.cover_sub),
        Spacer(1, 5 * cm),
        _p(
            f"Calculé sur l'archive des événements : {number(state.events)} événements"
            f" ({number(state.files)} fichiers), dernier événement le {last},"
            f" empreinte {state.fingerprint}. Versions des indicateurs : "
            + ", ".join(f"{n} v{v}" for n, v in state.versions)
            + ".",
            s.small,
        ),
        Spacer(1, 0.3 * cm),
        _p(
            "Dispositif DINAMIS — groupe de travail avec le CNIG. Chiffres agrégés :"
            " aucune donnée personnelle ; cellules de moins de"
            f" {note.min_organisations} organisations masquées (secret statistique).",
            s.small,
        ),
    ]


def _key_figures(note: NoteData, s: Styles) -> list[Flowable]:
    out: list[Flowable] = [
        _p(f"Chiffres clés de l'année {note.year}", s.h1),
        _p(
            f"Chaque mesure publiée par année, pour {note.year} et {note.year - 1}. Les chiffres de"
            " l'année en cours sont provisoires jusqu'à sa clôture.",
            s.body,
        ),
        Spacer(1, 0.3 * cm),
    ]
    figures: list[KeyFigure] = note.key_figures
    if not figures:
        return [*out, _p("Aucun indicateur publié par année.", s.body), PageBreak()]
    data = [
        [_p("Indicateur", s.head), _p("Mesure", s.head)]
        + [_p(h, s.head_r) for h in (str(note.year - 1), str(note.year), "Évolution")]
    ]
    suppressed = empty = False
    for f in figures:
        suppressed |= "s" in (f.previous, f.current)
        empty |= None in (f.previous, f.current)
        data.append(
            [
                _p(f.indicator.title_fr, s.cell),
                _p(_measure_label(f.measure), s.cell),
                number(f.previous),
                number(f.current),
                variation(f.previous, f.current),
            ]
        )
    table = PdfTable(data, colWidths=[5 * cm, 5.2 * cm, 2.1 * cm, 2.1 * cm, 2.6 * cm], repeatRows=1)
    table.setStyle(_table_style(s, len(data)))
    out += [table, *_footnotes(note, s, suppressed=suppressed, empty=empty), PageBreak()]
    return out


def _measure_label(m: Any) -> str:
    return f"{m.label_fr} ({m.unit})" if m.unit and m.unit.lower() not in m.label_fr.lower() else m.label_fr


def _table_style(s: Styles, n_rows: int) -> TableStyle:
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), s.fonts.regular, 8),
        ("BACKGROUND", (0, 0), (-1, 0), BLUE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    commands += [("BACKGROUND", (0, r), (-1, r), LIGHT) for r in range(2, n_rows, 2)]
    return TableStyle(commands)


def _footnotes(note: NoteData, s: Styles, *, suppressed: bool, empty: bool) -> list[Flowable]:
    out: list[Flowable] = []
    if suppressed:
        out.append(
            _p(
                f"s : secret statistique : moins de {note.min_organisations} organisations"
                " (ou cellule masquée avec elle pour qu'elle ne puisse pas être déduite du total).",
                s.small,
            )
        )
    if empty:
        out.append(_p("— : aucune donnée enregistrée.", s.small))
    return out


def _section(n: int, section: Section, note: NoteData, s: Styles) -> list[Flowable]:
    ind = section.indicator
    out: list[Flowable] = [
        CondPageBreak(9 * cm),
        _p(f"{n}. {ind.title_fr}", s.h2),
        _p(f"Définition : {ind.definition_fr}", s.body),
        _p(
            f"Indicateur {ind.name}, version {ind.version}"
            + (" ; secret statistique appliqué." if ind.privacy == "organisations" else "."),
            s.small,
        ),
    ]
    if section.remark:
        out.append(_p(section.remark, s.small))
    for table in section.tables:
        out += _table(table, note, s)
    return out


def _table(t: Table, note: NoteData, s: Styles) -> list[Flowable]:
    with_orgs = t.privacy == "organisations" and not any(m.unit == "organisations" for m in t.measures)
    heads = [DIM_LABELS.get(t.dim, t.dim) if t.dim else ""]
    heads += [_measure_label(m) for m in t.measures]
    if with_orgs:
        heads.append("Organisations concernées")
    data: list[list[Any]] = [[_p(heads[0], s.head)] + [_p(h, s.head_r) for h in heads[1:]]]
    suppressed = empty = False
    for row in t.rows:
        label = value_label(t.dim, row.get(t.dim)) if t.dim else "Ensemble"
        if row.get("suppressed"):
            suppressed = True
            cells = ["s"] * (len(heads) - 1)
        elif row.get("empty"):
            empty = True
            cells = ["—"] * (len(heads) - 1)
        else:
            cells = [number(row.get(m.name)) for m in t.measures]
            if with_orgs:
                cells.append(number(row.get("organisations")))
        data.append([_p(label, s.cell), *cells])
    if len(data) == 1:
        data.append([_p("Aucune donnée", s.cell)] + [""] * (len(heads) - 1))
    first = 6 * cm
    rest = min(3.5 * cm, (17 * cm - first) / max(1, len(heads) - 1))
    table = PdfTable(data, colWidths=[first] + [rest] * (len(heads) - 1), repeatRows=1, hAlign="LEFT")
    table.setStyle(_table_style(s, len(data)))
    notes = _footnotes(note, s, suppressed=suppressed, empty=empty)
    block: list[Flowable] = [_p(t.title, s.h3), table, *notes]
    out: list[Flowable] = [KeepTogether(block) if len(data) < 25 else block[0]]
    if len(data) >= 25:
        out += block[1:]
    chart = _chart(t, s) if t.chart and t.rows else None
    if chart is not None:
        out += [Spacer(1, 0.2 * cm), chart]
    out.append(Spacer(1, 0.3 * cm))
    return out


def _chart(t: Table, s: Styles) -> Flowable | None:
    """The table's first measure as a chart (suppressed and empty cells are not drawn)."""
    m = t.measures[0]
    rows = t.rows
    if len(rows) > 20:  # a long breakdown (departments...): its table only
        return None
    labels, values = [], []
    for row in rows:
        label = value_label(t.dim, row.get(t.dim)) if t.dim else "Ensemble"
        value = row.get(m.name)
        if row.get("suppressed"):
            label += " (s)"
        labels.append(label)
        values.append(float(value) if isinstance(value, int | float) and not row.get("suppressed") else None)
    drawn = [v for v in values if v is not None]
    if not drawn:
        return None
    top = max(max(drawn), 0) or 1.0
    font = s.fonts.regular
    caption = f"{_measure_label(m)} — {t.title.lower()}"
    if t.chart == "years":  # vertical bars (reportlab's line chart mislabels its points
        # when a year has no value)
        d = Drawing(17 * cm, 6 * cm)
        v = VerticalBarChart()
        v.x, v.y, v.width, v.height = 1.6 * cm, 0.8 * cm, 14.6 * cm, 4.4 * cm
        v.data = [values]
        v.categoryAxis.categoryNames = labels
        v.categoryAxis.labels.fontName = font
        v.categoryAxis.labels.fontSize = 8
        v.valueAxis.labels.fontName = font
        v.valueAxis.labels.fontSize = 7.5
        v.valueAxis.valueMin = 0
        v.valueAxis.valueMax = top * 1.2
        v.valueAxis.labelTextFormat = number
        v.bars[0].fillColor = BLUE
        v.bars[0].strokeColor = None
        v.barWidth = 4
        v.barLabelFormat = number
        v.barLabels.fontName = font
        v.barLabels.fontSize = 7.5
        v.barLabels.nudge = 6
        d.add(v)
    else:
        height = max(2.5 * cm, 0.7 * cm * len(rows) + 1.4 * cm)
        d = Drawing(17 * cm, height + 0.8 * cm)
        c = HorizontalBarChart()
        c.x, c.y, c.width, c.height = 6.2 * cm, 0.8 * cm, 9.6 * cm, height - 0.8 * cm
        c.data = [[v if v is not None else 0 for v in values]]
        c.categoryAxis.categoryNames = labels
        c.categoryAxis.reverseDirection = 1
        c.categoryAxis.labels.fontName = font
        c.categoryAxis.labels.fontSize = 7.5
        c.categoryAxis.labels.boxAnchor = "e"
        c.valueAxis.labels.fontName = font
        c.valueAxis.labels.fontSize = 7
        c.valueAxis.valueMin = 0
        c.valueAxis.valueMax = top * 1.2
        c.valueAxis.labelTextFormat = number
        c.bars[0].fillColor = BLUE
        c.bars[0].strokeColor = None
        c.barLabelFormat = lambda v: number(v) if v else ""
        c.barLabels.fontName = font
        c.barLabels.fontSize = 7
        c.barLabels.boxAnchor = "w"
        c.barLabels.dx = 3
        d.add(c)
    d.add(String(0, d.height - 0.35 * cm, caption, fontName=s.fonts.italic, fontSize=8, fillColor=GREY))
    return d


def _method(note: NoteData, s: Styles) -> list[Flowable]:
    state = note.state
    names = {ind.name for ind in (sec.indicator for sec in note.sections)}
    first = french_date(state.first_event) if state.first_event else "—"
    last = french_date(state.last_event) if state.last_event else "—"
    out: list[Flowable] = [PageBreak(), _p("Méthode et définitions", s.h1)]

    def para(head: str, text: str) -> None:
        out.append(_p(head, s.h3))
        out.append(_p(text, s.body))

    para(
        "L'archive des événements",
        "Chaque fait de la plateforme (adhésion, demande d'acquisition, scène acquise, commande,"
        " téléchargement, quota...) circule sur son bus sous forme d'événement CloudEvents. Le service"
        " de reporting archive chacun, tel quel, dans le stockage objet (fichiers Parquet par sujet et"
        " par jour, compartiment « events »). Les indicateurs sont des requêtes SQL versionnées sur cette"
        f" archive. Cette note a été calculée sur {number(state.events)} événements"
        f" ({number(state.files)} fichiers, empreinte {state.fingerprint}), du {first} au {last}.",
    )
    para(
        "Idempotence et reproductibilité",
        "Un événement est archivé une seule fois par identifiant CloudEvents : relire un sujet depuis"
        " son début ne change rien, et la lecture écarte encore tout doublon. La même archive et les"
        " mêmes versions d'indicateurs donnent les mêmes chiffres : cette note peut être régénérée à"
        " l'identique.",
    )
    out.append(_p("Versions des indicateurs", s.h3))
    versions = [[_p("Indicateur", s.head), _p("Nom", s.head), _p("Version", s.head_r)]]
    titles = {sec.indicator.name: sec.indicator.title_fr for sec in note.sections}
    versions += [[_p(titles.get(n, n), s.cell), _p(n, s.cell), str(v)] for n, v in state.versions]
    vt = PdfTable(versions, colWidths=[8 * cm, 6 * cm, 3 * cm], repeatRows=1)
    vt.setStyle(_table_style(s, len(versions)))
    out.append(vt)
    para(
        "Les catégories d'organisations",
        "Chaque organisation adhérente déclare sa catégorie à son adhésion : "
        + " ; ".join(f"{label} ({code})" for code, label in CATEGORY_LABELS.items())
        + ". Un prestataire de la commande publique agit pour un acteur public, pendant la durée de"
        " son marché.",
    )
    para(
        "Secret statistique",
        f"Toute cellule d'un tableau qui compte moins de {note.min_organisations} organisations"
        " distinctes est masquée (« s ») ; quand une seule cellule d'une ventilation est masquée, la"
        " plus petite des autres l'est aussi, pour qu'on ne puisse pas la retrouver par différence avec"
        " le total. Les utilisateurs sont comptés, jamais listés : la note ne contient aucune donnée"
        " personnelle. Elle ne publie que les ventilations publiques des indicateurs (année,"
        " catégorie...) ; les ventilations fines (département...) sont réservées au tableau de bord"
        " du groupe de travail.",
    )
    if "money" in names:
        money = next(sec.indicator for sec in note.sections if sec.indicator.name == "money")
        para(
            "Valeur de l'imagerie et table de prix",
            f"{money.definition_fr} La valeur de l'imagerie livrée est calculée avec une table de prix"
            " de référence au km² (prix catalogue publics, configurable, version de l'indicateur"
            f" v{money.version}) : c'est un ordre de grandeur du coût évité par les utilisateurs, pas un"
            " prix payé ni une valeur comptable.",
        )
    else:
        para(
            "Valeur de l'imagerie et table de prix",
            "L'indicateur de valeur (« money ») n'est pas au catalogue de cette version : la note ne"
            " publie aucun montant, ni cofinancement ni valeur aux prix de référence.",
        )
    para(
        "Ce que ces chiffres ne couvrent pas",
        "Seuls les faits passés par la plateforme depuis la mise en service de son archive sont"
        " comptés : l'activité antérieure (compilée à la main) n'y est pas. Un téléchargement est un"
        " lien signé servi, pas un usage constaté ; les copies et produits dérivés partagés hors de la"
        " plateforme ne sont pas observés. Les chiffres de l'année en cours sont provisoires. Une"
        " cellule masquée n'est pas une valeur nulle.",
    )
    return out

"""The note's fonts: TrueType, embedded (subset) in the PDF, covering French.

Looked up in order: Debian's `fonts-dejavu-core` (DejaVu Sans, a free derivative of
Bitstream Vera: its licence allows embedding and redistribution), then the Bitstream
Vera files reportlab itself ships (`reportlab/fonts`, Bitstream Vera licence). No font
file is committed to this repository. The PDF's standard fonts (Helvetica...) are never
used: they are not embedded and their encoding is not Unicode."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import reportlab
from reportlab import rl_config
from reportlab.graphics import shapes
from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_VERA = Path(reportlab.__file__).resolve().parent / "fonts"
# (family, regular, bold, italic) in order of preference.
CANDIDATES = (
    (
        "DejaVuSans",
        _DEJAVU / "DejaVuSans.ttf",
        _DEJAVU / "DejaVuSans-Bold.ttf",
        _DEJAVU / "DejaVuSans-Oblique.ttf",
    ),
    ("Vera", _VERA / "Vera.ttf", _VERA / "VeraBd.ttf", _VERA / "VeraIt.ttf"),
)


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    italic: str


_lock = threading.Lock()
_registered: Fonts | None = None


def register() -> Fonts:
    """Register the first complete family found (once per process)."""
    global _registered
    with _lock:
        if _registered is not None:
            return _registered
        for family, regular, bold, italic in CANDIDATES:
            if not (regular.is_file() and bold.is_file() and italic.is_file()):
                continue
            names = Fonts(f"Note{family}", f"Note{family}-Bold", f"Note{family}-Italic")
            pdfmetrics.registerFont(TTFont(names.regular, str(regular)))
            pdfmetrics.registerFont(TTFont(names.bold, str(bold)))
            pdfmetrics.registerFont(TTFont(names.italic, str(italic)))
            addMapping(names.regular, 0, 0, names.regular)
            addMapping(names.regular, 1, 0, names.bold)
            addMapping(names.regular, 0, 1, names.italic)
            addMapping(names.regular, 1, 1, names.bold)
            # reportlab's graphics start every drawing in its default font (Helvetica):
            # this process draws with the note's font only.
            shapes.STATE_DEFAULTS["fontName"] = names.regular
            rl_config.canvas_basefontname = names.regular
            _registered = names
            return names
        raise RuntimeError(
            "no TrueType font for the note: install Debian's fonts-dejavu-core"
            " (reportlab's own Vera files are missing too)"
        )

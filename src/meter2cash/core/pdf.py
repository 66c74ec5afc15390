"""The house look of every PDF we print (bills, dunning notices, evidence packs): A4 page,
fonts, colours, paragraph and table styles.

Latin text is set in Helvetica; any run of Chinese in reportlab's built-in CID font
``STSong-Light``, which needs no font file: the PDF names the font and the viewer supplies
its glyphs (see docs/decisions/0004-bill-documents-reportlab.md). :func:`para` switches
fonts run by run, so one string may mix both scripts.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, Final, Literal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, TableStyle

Align = Literal[0, 2]

LATIN: Final = "Helvetica"
LATIN_BOLD: Final = "Helvetica-Bold"
CJK: Final = "STSong-Light"
"""Adobe's Simplified Chinese CID font, built into reportlab: nothing to download or embed."""

INK: Final = colors.HexColor("#1f2933")
MUTED: Final = colors.HexColor("#616e7c")
ACCENT: Final = colors.HexColor("#0b5394")
SHADE: Final = colors.HexColor("#eef3f8")
RULE: Final = colors.HexColor("#c8d1da")
WARN: Final = colors.HexColor("#b45309")
WARN_SHADE: Final = colors.HexColor("#fdf0dc")

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN: Final = 15 * mm
BODY_WIDTH: Final = PAGE_WIDTH - 2 * MARGIN
FOOTER_Y: Final = 9 * mm


@cache
def register_fonts() -> None:
    """Make :data:`CJK` known to reportlab (once per process)."""
    pdfmetrics.registerFont(UnicodeCIDFont(CJK))


def a4_document(out: Any, *, title: str, author: str, subject: str) -> SimpleDocTemplate:
    """An A4 page template with the house margins, writing to ``out`` (a file or buffer)."""
    register_fonts()
    return SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN - 3 * mm,
        bottomMargin=MARGIN,
        title=title,
        author=author,
        subject=subject,
        creator="meter2cash",
    )


def footer(text: Callable[[int], str]) -> Callable[[Canvas, Any], None]:
    """A page callback drawing a rule and ``text(page number)`` at the foot of each page."""

    def draw(canvas: Canvas, template: Any) -> None:
        line = para(text(canvas.getPageNumber()), "note")
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, FOOTER_Y + 4 * mm, PAGE_WIDTH - MARGIN, FOOTER_Y + 4 * mm)
        line.wrapOn(canvas, BODY_WIDTH, 10 * mm)
        line.drawOn(canvas, MARGIN, FOOTER_Y)
        canvas.restoreState()

    return draw


def needs_cjk(text: str) -> bool:
    """True when Helvetica (cp1252) cannot set ``text``."""
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return True
    return False


def markup(text: str) -> str:
    """Paragraph markup of ``text``: runs Helvetica cannot set are switched to :data:`CJK`."""
    runs: list[str] = []
    current, cjk = "", False
    for char in text:
        char_cjk = needs_cjk(char)
        if current and char_cjk != cjk:
            runs.append(_run(current, cjk))
            current = ""
        current, cjk = current + char, char_cjk
    if current:
        runs.append(_run(current, cjk))
    return "".join(runs)


def _run(text: str, cjk: bool) -> str:
    return f'<font name="{CJK}">{escape(text)}</font>' if cjk else escape(text)


STYLES: Final = {
    "body": ParagraphStyle("body", fontName=LATIN, fontSize=8.5, leading=11, textColor=INK),
    "label": ParagraphStyle("label", fontName=LATIN, fontSize=8, leading=10.5, textColor=MUTED),
    "head": ParagraphStyle(
        "head", fontName=LATIN_BOLD, fontSize=8, leading=10, textColor=colors.white
    ),
    "utility": ParagraphStyle(
        "utility", fontName=LATIN_BOLD, fontSize=11, leading=14, textColor=MUTED
    ),
    "title": ParagraphStyle(
        "title", fontName=LATIN_BOLD, fontSize=20, leading=25, textColor=ACCENT
    ),
    "section": ParagraphStyle(
        "section", fontName=LATIN_BOLD, fontSize=11, leading=14, textColor=ACCENT, spaceAfter=4
    ),
    "due": ParagraphStyle("due", fontName=LATIN_BOLD, fontSize=20, leading=25, textColor=ACCENT),
    "note": ParagraphStyle("note", fontName=LATIN, fontSize=7.5, leading=10, textColor=MUTED),
    "warn": ParagraphStyle("warn", fontName=LATIN_BOLD, fontSize=8.5, leading=11, textColor=WARN),
}


def para(text: str, style: str = "body", align: Align = TA_LEFT) -> Paragraph:
    """``text`` as a paragraph in one of :data:`STYLES`; a newline in it breaks the line."""
    wrap = "CJK" if needs_cjk(text) else None
    lines = "<br/>".join(markup(line) for line in text.split("\n"))
    return Paragraph(lines, _style_variant(style, align, wrap))


@cache
def _style_variant(name: str, align: Align, wrap: str | None) -> ParagraphStyle:
    return ParagraphStyle(
        f"{name}-{align}-{wrap}", parent=STYLES[name], alignment=align, wordWrap=wrap
    )


def right(text: str, style: str = "body") -> Paragraph:
    """``text`` right-aligned (amounts, quantities)."""
    return para(text, style, TA_RIGHT)


def section(title: str) -> Paragraph:
    """A section heading."""
    return para(title, "section")


def tight() -> TableStyle:
    """A table of label–value pairs without padding."""
    return TableStyle(
        [
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 2),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )


def grid_style(rows: int, band: int = 1) -> list[Any]:
    """Header in the accent colour, thin rules, every other band of ``band`` rows shaded."""
    style: list[Any] = [
        ("BACKGROUND", (0, 0), (-1, 0), ACCENT),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    style += [
        ("BACKGROUND", (0, r), (-1, r + band - 1), SHADE) for r in range(1 + band, rows, 2 * band)
    ]
    return style

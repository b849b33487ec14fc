"""Server-rendered inline SVG charts for every app (accounts is the lowest layer, as for tabular.py). A chart
never stands alone: the page shows the same numbers in a table beside it, which is the accessible
equivalent. A chart with a title is an image named by its title and described by its description (which
says where the table is); one without is decoration and hidden from assistive technology."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import slugify

FONT = "Frutiger W01, Arial, sans-serif"
BLUE, GREY, TEXT = "#005eb8", "#425563", "#212b32"


def svg_document(
    width: int, height: int, body: SafeString, *, title: str = "", desc: str = "", size: int = 14
):
    if not title:
        return format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" class="portal-chart" aria-hidden="true" '
            'focusable="false" viewBox="0 0 {} {}" width="100%" font-family="{}" font-size="{}">{}</svg>',
            width, height, FONT, size, body,
        )  # fmt: skip
    ids = f"chart-{slugify(title)}"
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="portal-chart" role="img" focusable="false" '
        'aria-labelledby="{0}-title {0}-desc" viewBox="0 0 {1} {2}" width="100%" font-family="{3}" '
        'font-size="{4}"><title id="{0}-title">{5}</title><desc id="{0}-desc">{6}</desc>{7}</svg>',
        ids, width, height, FONT, size, title, desc, body,
    )  # fmt: skip


@dataclass(frozen=True)
class Datum:
    """One mark: its label on the axis, its value (for geometry only) and the value as the table prints it."""

    label: str
    value: Decimal
    text: str


WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 260, 24, 24, 28, 44


def _geometry(data: Sequence[Datum]):
    top = max([datum.value for datum in data] + [Decimal(0)]) or Decimal(1)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: Decimal) -> float:
        # Pixel geometry, not money or points: the exact figures are printed and in the table.
        return TOP + plot_height - float(value / top) * plot_height

    return plot_width, plot_height, y


def column_chart(data: Sequence[Datum], *, title: str, desc: str) -> str:
    """Vertical columns, one per datum, each labelled below and its value printed above it."""
    if not data:
        return ""
    plot_width, _, y = _geometry(data)
    slot = plot_width / len(data)
    bar = slot * 0.7
    base = HEIGHT - BOTTOM
    rows = []
    for index, datum in enumerate(data):
        x = LEFT + index * slot + (slot - bar) / 2
        middle = f"{x + bar / 2:.1f}"
        top = y(datum.value)
        rows.append(
            (f"{x:.1f}", f"{top:.1f}", f"{bar:.1f}", f"{base - top:.1f}", BLUE,
             middle, f"{top - 6:.1f}", datum.text, middle, base + 18, datum.label)
        )  # fmt: skip
    columns = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
        '<text x="{}" y="{}" text-anchor="middle">{}</text>'
        '<text x="{}" y="{}" text-anchor="middle" font-size="12">{}</text>',
        rows,
    )
    axis = format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>', LEFT, base, WIDTH - RIGHT, base, GREY
    )
    return svg_document(WIDTH, HEIGHT, format_html("{}{}", axis, columns), title=title, desc=desc, size=13)


def line_chart(data: Sequence[Datum], *, title: str, desc: str) -> str:
    """Values in order (e.g. at each achievement date of a year), joined by a line, each point labelled."""
    if not data:
        return ""
    plot_width, _, y = _geometry(data)
    step = plot_width / max(len(data) - 1, 1)
    base = HEIGHT - BOTTOM
    xs = [LEFT + index * step if len(data) > 1 else LEFT + plot_width / 2 for index in range(len(data))]
    line = " ".join(f"{x:.1f},{y(datum.value):.1f}" for x, datum in zip(xs, data, strict=True))
    rows = []
    for index, (x, datum) in enumerate(zip(xs, data, strict=True)):
        anchor = "start" if index == 0 and len(data) > 1 else "end" if index == len(data) - 1 else "middle"
        rows.append(
            (f"{x:.1f}", f"{y(datum.value):.1f}", BLUE,
             f"{x:.1f}", f"{y(datum.value) - 10:.1f}", anchor, datum.text,
             f"{x:.1f}", base + 18, anchor, datum.label)
        )  # fmt: skip
    marks = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="5" fill="{}"/>'
        '<text x="{}" y="{}" text-anchor="{}">{}</text>'
        '<text x="{}" y="{}" text-anchor="{}" font-size="12">{}</text>',
        rows,
    )
    body = format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="3"/>{}',
        LEFT, base, WIDTH - RIGHT, base, GREY, line, BLUE, marks,
    )  # fmt: skip
    return svg_document(WIDTH, HEIGHT, body, title=title, desc=desc, size=13)

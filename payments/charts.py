"""The statement's chart (drawn with accounts/charts.py): payments so far, cumulative, against the year's
achievement payment. The page shows the same figures in its table, so the SVG is hidden from assistive
technology."""

from decimal import Decimal

from django.utils.html import format_html

from accounts.charts import svg_document

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 240, 70, 20, 20, 30


def cumulative_svg(running_totals: list[Decimal], achievement: Decimal | None) -> str:
    if not running_totals:
        return ""
    values = [Decimal(0), *running_totals]
    top = max([*values, achievement or Decimal(0), Decimal(1)])
    bottom = min([*values, Decimal(0)])
    span = top - bottom or Decimal(1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: Decimal) -> str:
        # Pixel geometry, not money: the exact figures are in the table.
        return f"{TOP + float((top - value) / span) * plot_h:.1f}"

    step = plot_w / max(len(values) - 1, 1)
    points = " ".join(f"{LEFT + index * step:.1f},{y(value)}" for index, value in enumerate(values))
    target = ""
    if achievement is not None:
        target = format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#007f3b" stroke-width="2" stroke-dasharray="6 4"/>'
            '<text x="{}" y="{}" fill="#007f3b">Achievement £{}</text>',
            LEFT,
            WIDTH - RIGHT,
            y(achievement),
            y(achievement),
            LEFT + 4,
            float(y(achievement)) - 6,
            achievement,
        )
    body = format_html(
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#425563"/>'
        '<polyline points="{}" fill="none" stroke="#005eb8" stroke-width="3"/>{}'
        '<text x="{}" y="{}" text-anchor="end">£{}</text><text x="{}" y="{}" text-anchor="end">£{}</text>',
        LEFT, WIDTH - RIGHT, y(Decimal(0)), y(Decimal(0)), points, target,
        LEFT - 6, TOP + 10, top, LEFT - 6, HEIGHT - BOTTOM, bottom,
    )  # fmt: skip
    return svg_document(WIDTH, HEIGHT, body, size=13)

"""Server-rendered inline SVG charts. The page shows the same numbers in a table; the SVG is decoration
for sighted readers, so it is hidden from assistive technology rather than described twice."""

from decimal import Decimal

from django.utils.html import format_html, format_html_join

BAR_HEIGHT = 28
GAP = 12
LABEL_WIDTH = 190
PLOT_WIDTH = 420


def points_by_domain_svg(domains) -> str:
    """Horizontal bars: points achieved (filled) against points available (outline) per domain."""
    widest = max((domain.available for domain in domains), default=Decimal(0)) or Decimal(1)
    height = len(domains) * (BAR_HEIGHT + GAP) + GAP
    rows = []
    for index, domain in enumerate(domains):
        y = GAP + index * (BAR_HEIGHT + GAP)
        # Pixel geometry, not money: the exact points are printed beside the bars and in the table.
        available = float(domain.available / widest) * PLOT_WIDTH
        achieved = float(domain.points / widest) * PLOT_WIDTH
        baseline = f"{y + BAR_HEIGHT * 0.65:.1f}"
        rows.append(
            (LABEL_WIDTH - 8, baseline, domain.description,
             LABEL_WIDTH, y, f"{available:.1f}", BAR_HEIGHT,
             LABEL_WIDTH, y, f"{achieved:.1f}", BAR_HEIGHT,
             f"{LABEL_WIDTH + available + 6:.1f}", baseline, domain.points, domain.available)
        )  # fmt: skip
    bars = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#ffffff" stroke="#425563"/>'
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#005eb8"/>'
        '<text x="{}" y="{}">{} of {}</text>',
        rows,
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="portal-chart" aria-hidden="true" focusable="false" '
        'viewBox="0 0 {} {}" width="100%" font-family="Frutiger W01, Arial, sans-serif" font-size="14">'
        "{}</svg>",
        LABEL_WIDTH + PLOT_WIDTH + 130,
        height,
        bars,
    )

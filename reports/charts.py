"""The reports' charts, drawn with accounts/charts.py. The page shows the same numbers in a table; the
older charts here are decoration for sighted readers, hidden from assistive technology rather than
described twice; the trend and the distribution are images with a title and a description."""

from decimal import Decimal

from django.utils.html import format_html, format_html_join

from accounts.charts import Datum, column_chart, line_chart, svg_document
from accounts.tabular import points as points_text
from accounts.tabular import pounds as pounds_text

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
    return svg_document(LABEL_WIDTH + PLOT_WIDTH + 130, height, bars)


CURVE_WIDTH, CURVE_HEIGHT = 640, 300
CURVE_LEFT, CURVE_RIGHT, CURVE_TOP, CURVE_BOTTOM = 56, 24, 28, 52


def threshold_curve_svg(rule, explanation, what_if=None) -> str:
    """Points against achievement for a percentage indicator: nothing up to the lower threshold, a straight
    rise to full points at the upper threshold, full points above it; the practice's position on it (and a
    what-if position, hollow). Pixel geometry only: the figures are in the table beside it."""
    width = CURVE_WIDTH - CURVE_LEFT - CURVE_RIGHT
    height = CURVE_HEIGHT - CURVE_TOP - CURVE_BOTTOM
    maximum = float(rule.points) or 1.0

    def x(percent) -> str:
        return f"{CURVE_LEFT + float(percent) / 100 * width:.1f}"

    def y(points) -> str:
        return f"{CURVE_TOP + height - float(points) / maximum * height:.1f}"

    def moved(position: str, by: float) -> str:
        return f"{float(position) + by:.1f}"

    lower, upper, full = rule.lower_threshold, rule.upper_threshold, rule.points
    curve = " ".join(f"{x(a)},{y(p)}" for a, p in ((0, 0), (lower, 0), (upper, full), (100, full)))
    axis = '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#425563"/>'
    parts = [format_html(axis, x(0), y(0), x(100), y(0)), format_html(axis, x(0), y(0), x(0), y(full))]
    tick = '<text x="{}" y="{}" text-anchor="{}">{}</text>'
    parts += [format_html(tick, x(a), moved(y(0), 18), "middle", f"{a}%") for a in (0, 25, 50, 75, 100)]
    parts += [format_html(tick, moved(x(0), -6), moved(y(p), 5), "end", f"{p:g}") for p in (Decimal(0), full)]
    threshold = (
        '<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#768692" stroke-dasharray="4 4"/>'
        '<text x="{0}" y="{3}" text-anchor="middle" font-size="12">{4} {5}%</text>'
    )
    for value, name in ((lower, "lower"), (upper, "upper")):
        parts.append(
            format_html(threshold, x(value), y(0), CURVE_TOP - 4, moved(y(0), 36), name, f"{value:g}")
        )
    parts.append(format_html('<polyline points="{}" fill="none" stroke="#005eb8" stroke-width="3"/>', curve))
    marker = (
        '<circle cx="{}" cy="{}" r="7" fill="{}" stroke="{}" stroke-width="3"/>'
        '<text x="{}" y="{}" text-anchor="{}" font-size="13">{}</text>'
    )
    markers = [(explanation, "#212b32", "#212b32", "this practice")]
    if what_if is not None:
        markers.append((what_if, "#ffffff", "#d5281b", "what if"))
    for item, fill, stroke, label in markers:
        if item.achievement is None:
            continue
        left = item.achievement > 60
        cx, cy = x(item.achievement), y(item.points_exact)
        text = f"{label}: {float(item.achievement):.1f}%, {item.points} points"
        parts.append(
            format_html(
                marker,
                cx,
                cy,
                fill,
                stroke,
                moved(cx, -10 if left else 10),
                moved(cy, -10),
                "end" if left else "start",
                text,
            )
        )
    return svg_document(CURVE_WIDTH, CURVE_HEIGHT, format_html_join("", "{}", ((part,) for part in parts)))


def forecast_svg(item, service_year) -> str:
    """Points through the year: this year's in-year runs (solid), last year's (dashed, a year on), and the
    forecast year end with its range (a bar from low to high). The same figures are in the table below."""
    start, end = service_year.start_date, service_year.end_date
    year_days = (end - start).days + 1
    width = CURVE_WIDTH - CURVE_LEFT - CURVE_RIGHT
    height = CURVE_HEIGHT - CURVE_TOP - CURVE_BOTTOM
    values = [f.points for f in (*item.this_year, *item.last_year)] + list(item.points.values())
    if item.actual is not None:
        values.append(item.actual.points)
    top = float(max(values, default=Decimal(1)) or 1) * 1.1

    def x(day) -> str:
        return f"{CURVE_LEFT + min(max(day, 0), year_days) / year_days * width:.1f}"

    def y(points) -> str:
        return f"{CURVE_TOP + height - float(points) / top * height:.1f}"

    last_start = start.replace(year=start.year - 1)

    axis = '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#425563"/>'
    parts = [format_html(axis, x(0), y(0), x(year_days), y(0)), format_html(axis, x(0), y(0), x(0), y(top))]
    tick = '<text x="{}" y="{}" text-anchor="{}">{}</text>'
    for month_start in (start, start.replace(month=7), start.replace(month=10), end.replace(month=1, day=1)):
        parts.append(
            format_html(
                tick, x((month_start - start).days), f"{float(y(0)) + 18:.1f}", "middle", f"{month_start:%b}"
            )
        )
    parts.append(format_html(tick, x(year_days), f"{float(y(0)) + 18:.1f}", "end", "year end"))
    for fraction in (0, 0.5, 1):
        value = top / 1.1 * fraction
        parts.append(
            format_html(tick, f"{CURVE_LEFT - 6}", f"{float(y(value)) + 5:.1f}", "end", f"{value:.0f}")
        )
    last = [((f.achievement_date - last_start).days + 1, f.points) for f in item.last_year]
    now = [((f.achievement_date - start).days + 1, f.points) for f in item.this_year]
    line = '<polyline points="{}" fill="none" stroke="{}" stroke-width="{}"{}/>'
    dot = '<circle cx="{}" cy="{}" r="{}" fill="{}"/>'
    if last:
        parts.append(
            format_html(
                line,
                " ".join(f"{x(d)},{y(p)}" for d, p in last),
                "#768692",
                2,
                format_html(' stroke-dasharray="{}"', "6 4"),
            )
        )
        parts += [format_html(dot, x(d), y(p), 4, "#768692") for d, p in last]
    if now:
        parts.append(format_html(line, " ".join(f"{x(d)},{y(p)}" for d, p in now), "#005eb8", 3, ""))
        parts += [format_html(dot, x(d), y(p), 5, "#005eb8") for d, p in now]
        last_day, last_points = now[-1]
        onwards = f"{x(last_day)},{y(last_points)} {x(year_days)},{y(item.points['central'])}"
        parts.append(format_html(line, onwards, "#005eb8", 2, format_html(' stroke-dasharray="{}"', "2 4")))
    bar = (
        '<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#d5281b" stroke-width="3"/>'
        '<line x1="{3}" y1="{1}" x2="{4}" y2="{1}" stroke="#d5281b" stroke-width="3"/>'
        '<line x1="{3}" y1="{2}" x2="{4}" y2="{2}" stroke="#d5281b" stroke-width="3"/>'
        '<circle cx="{0}" cy="{5}" r="6" fill="#ffffff" stroke="#d5281b" stroke-width="3"/>'
    )
    end_x = float(x(year_days))
    parts.append(
        format_html(
            bar, f"{end_x - 8:.1f}", y(item.points["low"]), y(item.points["high"]), f"{end_x - 14:.1f}",
            f"{end_x - 2:.1f}", y(item.points["central"]),
        )
    )  # fmt: skip
    if item.actual is not None:
        parts.append(format_html(dot, x(year_days), y(item.actual.points), 6, "#007f3b"))
    return svg_document(CURVE_WIDTH, CURVE_HEIGHT, format_html_join("", "{}", ((part,) for part in parts)))


def trend_svgs(trend, *, shows_money: bool) -> list[str]:
    """Points, and pounds for those who may see money, at each published achievement date of the year: two
    charts with one scale each rather than one chart with two (a second axis invites a false comparison)."""
    if len(trend) < 2:
        return []
    dates = [f"{result.run.achievement_date:%-d %b}" for result in trend]
    points = [Datum(day, r.points, points_text(r.points)) for day, r in zip(dates, trend, strict=True)]
    charts = [
        line_chart(
            points,
            title="Points through the year",
            desc=f"Published points at {len(trend)} achievement dates, from {points[0].text} to "
            f"{points[-1].text}. The figures are in the table below.",
        )
    ]
    if shows_money:
        pounds = [Datum(day, r.payment, pounds_text(r.payment)) for day, r in zip(dates, trend, strict=True)]
        charts.append(
            line_chart(
                pounds,
                title="Achievement payment through the year",
                desc=f"The payment the published points earn, from {pounds[0].text} to {pounds[-1].text}. "
                "The figures are in the table below.",
            )
        )
    return charts


def distribution_svg(bands) -> str:
    """How many practices achieved each tenth of the points available."""
    if not bands or not sum(band.count for band in bands):
        return ""
    data = [Datum(band.label, Decimal(band.count), str(band.count)) for band in bands]
    busiest = max(bands, key=lambda band: band.count)
    return column_chart(
        data,
        title="Practices by share of points achieved",
        desc=f"The number of practices in each tenth of the points available; most ({busiest.count}) "
        f"achieved {busiest.label}. The figures are in the table below.",
    )

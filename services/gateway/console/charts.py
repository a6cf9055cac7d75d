"""Bar charts as inline SVG, drawn on the server: no charting library, no build step,
nothing for the CSP to allow. The markup is built from numbers and escaped labels only."""

from html import escape

WIDTH = 640
HEIGHT = 180
MARGIN_LEFT = 56
MARGIN_BOTTOM = 34
MARGIN_TOP = 12


def usd(value: float) -> str:
    """Dollars to the cent from $1, else to the millionth (a request often costs less
    than a cent): `$12.50`, `$0.000014`, `$0`."""
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.6f}".rstrip("0").rstrip(".")


def _number(value: float, unit: str) -> str:
    return usd(value) if unit == "$" else f"{value:,.0f}"


def bar_chart(title: str, labels: list[str], values: list[float], unit: str = "") -> str:
    """A labelled bar chart of `values`; each bar carries its exact value as a tooltip."""
    plot_width = WIDTH - MARGIN_LEFT - 8
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    top = max(values, default=0) or 1
    slot = plot_width / max(len(values), 1)
    bar = max(min(slot * 0.7, 48), 2)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{MARGIN_LEFT}" y1="{HEIGHT - MARGIN_BOTTOM}" '
        f'x2="{WIDTH - 8}" y2="{HEIGHT - MARGIN_BOTTOM}"/>',
        f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{MARGIN_TOP + 4}" text-anchor="end">'
        f"{escape(_number(top, unit))}</text>",
        f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{HEIGHT - MARGIN_BOTTOM}" '
        f'text-anchor="end">0</text>',
    ]
    every = max(1, len(labels) // 8)  # at most about eight labels under the axis
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = plot_height * value / top
        x = MARGIN_LEFT + i * slot + (slot - bar) / 2
        y = HEIGHT - MARGIN_BOTTOM - height
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}">'
            f"<title>{escape(label)}: {escape(_number(value, unit))}</title></rect>"
        )
        if i % every == 0:
            parts.append(
                f'<text class="tick" x="{x + bar / 2:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" '
                f'text-anchor="middle">{escape(label[-5:] if len(label) == 10 else label[:12])}'
                "</text>"
            )
    if not values:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "no requests yet</text>"
        )
    parts.append("</svg>")
    return "".join(parts)

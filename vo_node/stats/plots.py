"""The reports as PNG pictures for the operator's page.

Only :class:`matplotlib.figure.Figure` and the Agg canvas, never pyplot (whose global figure
registry is not safe under the server's threads); matplotlib is imported on the first
picture, not with the app. Must not import Flask or psycopg.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vo_node.stats.channels import CHANNELS
from vo_node.stats.store import Audience, Country, RunUse, Volume

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.0, 100
# One colour per channel, the same in every month (tab10, in the order of CHANNELS).
_COLOURS = dict(zip(CHANNELS, [f"C{i}" for i in range(len(CHANNELS))], strict=True))
PLOTS = ("volume", "visits", "countries", "runs")


def _figure(rows: int = 1) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN * rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, squeeze=False)
    return figure, [a for (a,) in axes]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No software/date metadata: the same figures draw the same bytes.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _whole(axis: Axis) -> None:
    """Ticks at whole numbers: a count of 1.25 visits means nothing."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _nothing(axes: Axes) -> None:
    axes.text(0.5, 0.5, "no accesses recorded", ha="center", va="center",
              transform=axes.transAxes)  # fmt: skip
    axes.set_axis_off()


def volume_png(rows: Sequence[Volume]) -> bytes:
    """Megabytes and requests per month, stacked by channel."""
    figure, (by_bytes, by_requests) = _figure(2)
    months = sorted({v.month for v in rows})
    if not months:
        _nothing(by_bytes)
        _nothing(by_requests)
        return _png(figure)
    where = {m: i for i, m in enumerate(months)}
    for axes, value, label in (
        (by_bytes, lambda v: v.bytes / 1e6, "MB sent"),
        (by_requests, lambda v: float(v.requests), "requests"),
    ):
        bottom = [0.0] * len(months)
        for channel in CHANNELS:
            heights = [0.0] * len(months)
            for v in rows:
                if v.channel == channel:
                    heights[where[v.month]] += value(v)
            if any(heights):
                axes.bar(months, heights, bottom=bottom, label=channel, color=_COLOURS[channel])
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        axes.set_ylabel(label)
    _whole(by_requests.yaxis)
    by_bytes.set_title("Volume per month and channel")
    by_bytes.legend(loc="upper left", fontsize="small", ncols=4)
    return _png(figure)


def visits_png(rows: Sequence[Audience]) -> bytes:
    """Visits, logged-in users and anonymous visitor-days per month, side by side."""
    figure, (axes,) = _figure()
    if not rows:
        _nothing(axes)
        return _png(figure)
    x = list(range(len(rows)))
    series = (
        ("visits", [a.visits for a in rows]),
        ("users (logged in)", [a.users for a in rows]),
        ("anonymous visitor-days", [a.anonymous for a in rows]),
    )
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        axes.bar([p + (i - 1) * width for p in x], values, width, label=label)
    axes.set_xticks(x, [a.month for a in rows])
    _whole(axes.yaxis)
    axes.set_title("Visits and distinct users per month")
    axes.legend(fontsize="small")
    return _png(figure)


def countries_png(rows: Sequence[Country], limit: int = 20) -> bytes:
    """Requests per country ('--': unknown), the most first."""
    figure, (axes,) = _figure()
    shown = list(rows[:limit])
    if not shown:
        _nothing(axes)
        return _png(figure)
    axes.barh([c.code for c in reversed(shown)], [c.requests for c in reversed(shown)])
    axes.set_xlabel("requests")
    _whole(axes.xaxis)
    axes.set_title("Requests per country ('--': unknown or private address)")
    return _png(figure)


def runs_png(rows: Sequence[RunUse]) -> bytes:
    """Products delivered per run, the most first."""
    figure, (axes,) = _figure()
    if not rows:
        _nothing(axes)
        return _png(figure)
    axes.barh([r.run for r in reversed(rows)], [r.products for r in reversed(rows)])
    axes.set_xlabel("products delivered")
    axes.set_title("Top runs")
    return _png(figure)

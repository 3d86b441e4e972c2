"""The insights pictures, drawn as PNG bytes from plain data: daily activity, the
hour-by-weekday rhythm, retention of weekly join cohorts and lifecycle states over weeks.

The module holds no sentence of its own: every title, axis name, series name, weekday and week
name arrives already rendered from the persona packs, and numbers and dates are turned into
text by the caller's ``Formats``, so a chart reads in the persona's language.

Drawing uses matplotlib's ``Figure`` with the Agg canvas, never pyplot: pyplot keeps a global
list of open figures, which concurrent renders would share. Chinese text is set in Noto Sans
CJK SC from the ``noto-cjk-sans-otc`` wheel (SIL Open Font License), registered by path when
this module is imported, so a plain ``pip install`` draws no tofu boxes and nothing is fetched.

Inputs: a chart with nothing on its axis (no day, no week, no cohort) raises ``EmptyChart``
(a ``ValueError``): "not enough data yet" is the caller's reply, not a blank picture. Data that
is there but all zero is drawn as it is (a flat line, a pale heatmap): a quiet week is a fact.
Malformed data (lengths that disagree, negative or non-finite counts, shares outside 0..1)
raises ``ValueError`` naming the argument.

Rendering costs tens to hundreds of milliseconds of CPU; ``render`` runs a chart off the event
loop so that the bot keeps answering while it draws.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial, wraps
from typing import Final, ParamSpec

import noto_cjk_sans_otc
import numpy as np
from matplotlib import colormaps, font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.dates import AutoDateLocator, date2num, num2date
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from PIL import Image

from bot.actions import MAX_IMAGE_BYTES

__all__ = [
    "CJK_FAMILY",
    "FONT_PATH",
    "LIFECYCLE_STATES",
    "EmptyChart",
    "Formats",
    "daily_activity",
    "lifecycle",
    "mood_trend",
    "render",
    "retention",
    "weekly_rhythm",
]

#: The bundled font file (an OpenType collection) and the face used: simplified Chinese forms.
FONT_PATH: Final = str(noto_cjk_sans_otc.FONT_PATH)
CJK_FAMILY: Final = "Noto Sans CJK SC"
#: Noto Sans CJK carries Latin too; DejaVu (matplotlib's own) only catches a rare symbol.
FAMILIES: Final = [CJK_FAMILY, "DejaVu Sans"]

#: The lifecycle states in the order they stack, bottom first, with their colours.
LIFECYCLE_STATES: Final = ("new", "active", "silent", "at_risk", "gone")
STATE_COLOURS: Final = {
    "new": "#4c78a8",
    "active": "#54a24b",
    "silent": "#bab0ac",
    "at_risk": "#f58518",
    "gone": "#e45756",
}
MESSAGES_COLOUR: Final = "#9ecae9"
ACTIVE_COLOUR: Final = "#1f5f99"
MOOD_COLOUR: Final = "#b279a2"

#: 9 × 5 inches at 120 dpi: 1080 × 600 pixels, legible on a phone, tens of kilobytes.
SIZE_INCHES: Final = (9.0, 5.0)
DPI: Final = 120
#: Renders are CPU work under the GIL: a second thread adds memory, not speed.
RENDER_THREADS: Final = 1

P = ParamSpec("P")


def _register_font() -> None:
    """Register the bundled collection by path (all its faces), once per process, and make
    sure the simplified Chinese face is found: a matplotlib that registers only the first face
    of a collection (Japanese) would silently draw with another font, or tofu."""
    if not any(entry.fname == FONT_PATH for entry in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(FONT_PATH)
    try:
        font_manager.fontManager.findfont(
            font_manager.FontProperties(family=CJK_FAMILY), fallback_to_default=False
        )
    except ValueError as error:
        raise RuntimeError(
            f"{CJK_FAMILY} is not found in {FONT_PATH}: this matplotlib does not register "
            "every face of a font collection (3.11 does)"
        ) from error


_register_font()


class EmptyChart(ValueError):
    """Nothing to put on the chart's axis: the caller says "not enough data yet" instead."""


def _month_day(day: date) -> str:
    return f"{day.month:02d}-{day.day:02d}"


def _whole(value: float) -> str:
    return f"{value:.0f}"


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def _hour(hour: int) -> str:
    return f"{hour:02d}"


@dataclass(frozen=True, slots=True)
class Formats:
    """How dates, counts, shares and hours read in the persona's locale. The caller passes its
    locale's formatters; the defaults are bare numerals, which read the same in every locale."""

    day: Callable[[date], str] = _month_day
    count: Callable[[float], str] = _whole
    share: Callable[[float], str] = _percent
    hour: Callable[[int], str] = _hour


NUMERALS: Final = Formats()


# -- rendering off the event loop -----------------------------------------------------------


_render_pool = ThreadPoolExecutor(max_workers=RENDER_THREADS, thread_name_prefix="chart")


async def render(chart: Callable[P, bytes], /, *args: P.args, **kwargs: P.kwargs) -> bytes:
    """Draw ``chart(*args, **kwargs)`` in the chart thread and await the PNG bytes.

    Off the event loop, because a render holds the CPU for up to a few hundred milliseconds,
    which would stall every chat's updates; the loop keeps its turns while the thread draws
    (Python switches threads every few milliseconds). One dedicated thread rather than the
    loop's default executor: renders cannot run in parallel under the GIL anyway, a queue of
    them costs one figure of memory at a time, and they never crowd out the default
    executor's other users (name lookups). A thread, not a process: the formatters are
    closures that cannot be pickled, and a process would load matplotlib and the font again.
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_render_pool, partial(chart, *args, **kwargs))


# -- the four charts --------------------------------------------------------------------------


def _drawn_as_png(draw: Callable[P, Figure]) -> Callable[P, bytes]:
    """The chart drawn by ``draw`` as PNG bytes: the public charts are their figures made
    pictures (``__wrapped__`` keeps the figure for a test that looks at its texts)."""

    @wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> bytes:
        return _png(draw(*args, **kwargs))

    return drawn


@_drawn_as_png
def daily_activity(
    days: Sequence[date],
    active_members: Sequence[float],
    messages: Sequence[float],
    *,
    title: str,
    active_label: str,
    messages_label: str,
    formats: Formats = NUMERALS,
) -> Figure:
    """Daily active members (a line, left axis) and messages (bars, right axis) over a period:
    two scales, since messages outnumber members tenfold or more."""
    _not_empty("days", days)
    active = _counts("active_members", active_members, len(days))
    sent = _counts("messages", messages, len(days))
    x = date2num(list(days))
    figure, left = _frame(title)
    right = left.twinx()
    right.spines["top"].set_visible(False)
    _bars(right, x, sent, width=0.8, colour=MESSAGES_COLOUR, label=messages_label)
    left.plot(
        x,
        active,
        color=ACTIVE_COLOUR,
        linewidth=2 if len(days) <= 90 else 1.2,  # a year of days needs a finer line
        marker="o" if len(days) <= 31 else None,
        markersize=4,
        label=active_label,
    )
    # The line in front of the bars: the left axes above the right one, with a clear face.
    left.set_zorder(right.get_zorder() + 1)
    left.patch.set_visible(False)
    for axes, values, label in ((left, active, active_label), (right, sent, messages_label)):
        axes.set_ylim(0, _headroom(values))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        axes.yaxis.set_major_formatter(_count_ticks(formats))
        axes.set_ylabel(label, fontfamily=FAMILIES)
        axes.tick_params(labelfontfamily=FAMILIES)
    left.set_xlim(x[0] - 0.6, x[-1] + 0.6)
    left.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))
    left.xaxis.set_major_formatter(FuncFormatter(lambda value, _: formats.day(_day(value))))
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(
        handles=handles,
        loc="upper left",
        prop={"family": FAMILIES},
        frameon=False,
        ncols=2,
    )
    return figure


@_drawn_as_png
def weekly_rhythm(
    counts: Sequence[Sequence[float]],
    *,
    title: str,
    weekday_names: Sequence[str],
    hour_axis_label: str,
    value_label: str,
    formats: Formats = NUMERALS,
) -> Figure:
    """When the community talks: a heatmap of 7 weekdays (rows, in the order of
    ``weekday_names``) by 24 local hours (columns), shaded by count."""
    if len(weekday_names) != 7:
        raise ValueError(f"weekday_names: expected 7 names, got {len(weekday_names)}")
    if len(counts) != 7:
        raise ValueError(f"counts: expected 7 rows (weekdays), got {len(counts)}")
    grid = np.vstack([_counts(f"counts[{row}]", values, 24) for row, values in enumerate(counts)])
    figure, axes = _frame(title)
    image = axes.imshow(
        grid,
        aspect="auto",
        cmap="Blues",
        vmin=0,
        vmax=max(1.0, float(grid.max())),
        interpolation="nearest",
    )
    axes.set_yticks(range(7), list(weekday_names))
    hours = range(0, 24, 3)
    axes.set_xticks(list(hours), [formats.hour(hour) for hour in hours])
    axes.set_xlabel(hour_axis_label, fontfamily=FAMILIES)
    axes.tick_params(labelfontfamily=FAMILIES, length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    bar = figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02)
    bar.locator = MaxNLocator(integer=True, nbins=5)
    bar.formatter = _count_ticks(formats)
    bar.update_ticks()
    bar.set_label(value_label, fontfamily=FAMILIES)
    bar.ax.tick_params(labelfontfamily=FAMILIES)
    return figure


@_drawn_as_png
def retention(
    cohort_starts: Sequence[date],
    shares: Sequence[Sequence[float | None]],
    *,
    title: str,
    week_names: Sequence[str],
    cohort_axis_label: str,
    cohort_sizes: Sequence[int] | None = None,
    formats: Formats = NUMERALS,
) -> Figure:
    """Retention of weekly join cohorts: one row per cohort (labelled by its first day and,
    given ``cohort_sizes``, its size), one column per week after joining (``week_names``),
    each cell the share 0..1 still active, written in the cell. ``None``: that week has not
    come yet for the cohort (left blank)."""
    _not_empty("cohort_starts", cohort_starts)
    _not_empty("week_names", week_names)
    if len(shares) != len(cohort_starts):
        raise ValueError(f"shares: expected {len(cohort_starts)} rows, got {len(shares)}")
    grid = np.vstack(
        [_shares(f"shares[{row}]", values, len(week_names)) for row, values in enumerate(shares)]
    )
    labels = [formats.day(start) for start in cohort_starts]
    if cohort_sizes is not None:
        sizes = _counts("cohort_sizes", cohort_sizes, len(cohort_starts))
        labels = [
            f"{label} ({formats.count(size)})" for label, size in zip(labels, sizes, strict=True)
        ]
    figure, axes = _frame(title)
    palette = colormaps["YlGnBu"].with_extremes(bad="#f2f2f2")
    axes.imshow(
        np.ma.masked_invalid(grid),
        aspect="auto",
        cmap=palette,
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    for (row, column), share in np.ndenumerate(grid):
        if math.isnan(share):
            continue
        axes.text(
            column,
            row,
            formats.share(float(share)),
            ha="center",
            va="center",
            fontsize=8 if len(cohort_starts) > 10 else 9,
            fontfamily=FAMILIES,
            color="white" if share > 0.55 else "#222222",
        )
    axes.set_xticks(range(len(week_names)), list(week_names))
    axes.xaxis.tick_top()
    axes.set_yticks(range(len(labels)), labels)
    axes.set_ylabel(cohort_axis_label, fontfamily=FAMILIES)
    axes.tick_params(labelfontfamily=FAMILIES, length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    return figure


@_drawn_as_png
def lifecycle(
    week_starts: Sequence[date],
    counts: Mapping[str, Sequence[float]],
    *,
    title: str,
    state_labels: Mapping[str, str],
    formats: Formats = NUMERALS,
) -> Figure:
    """Members per lifecycle state per week, stacked in ``LIFECYCLE_STATES`` order: ``counts``
    and ``state_labels`` each have exactly those keys; each series has one count per week."""
    _not_empty("week_starts", week_starts)
    for name, given in (("counts", counts), ("state_labels", state_labels)):
        if set(given) != set(LIFECYCLE_STATES):
            raise ValueError(f"{name}: expected the keys {', '.join(LIFECYCLE_STATES)}")
    series = {
        state: _counts(f"counts[{state}]", counts[state], len(week_starts))
        for state in LIFECYCLE_STATES
    }
    x = date2num(list(week_starts))
    figure, axes = _frame(title)
    bottom = np.zeros(len(week_starts))
    for state in LIFECYCLE_STATES:
        _bars(
            axes,
            x,
            series[state],
            width=5.6,
            bottom=bottom,
            colour=STATE_COLOURS[state],
            label=state_labels[state],
        )
        bottom = bottom + series[state]
    axes.set_ylim(0, _headroom(bottom))
    axes.set_xlim(x[0] - 4, x[-1] + 4)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    axes.yaxis.set_major_formatter(_count_ticks(formats))
    axes.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: formats.day(_day(value))))
    axes.tick_params(labelfontfamily=FAMILIES)
    axes.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
        ncols=len(LIFECYCLE_STATES),
        prop={"family": FAMILIES},
        frameon=False,
    )
    return figure


# -- shared pieces ---------------------------------------------------------------------------


@_drawn_as_png
def mood_trend(
    days: Sequence[date],
    negative_shares: Sequence[float | None],
    *,
    title: str,
    share_label: str,
    formats: Formats = NUMERALS,
) -> Figure:
    """The community's daily share of negative messages (care, ``/stats mood``): a line over
    the days, gaps where no message was read (``None``), the axis in percent."""
    _not_empty("days", days)
    shares = _shares("negative_shares", negative_shares, len(days))
    x = date2num(list(days))
    figure, axes = _frame(title)
    axes.plot(
        x,
        shares,
        color=MOOD_COLOUR,
        linewidth=2 if len(days) <= 90 else 1.2,
        marker="o" if len(days) <= 31 else None,
        markersize=4,
        label=share_label,
    )
    known = shares[~np.isnan(shares)]
    axes.set_ylim(0, min(1.0, max(0.1, float(known.max()) * 1.15)) if known.size else 0.1)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: formats.share(value)))
    axes.set_ylabel(share_label, fontfamily=FAMILIES)
    axes.tick_params(labelfontfamily=FAMILIES)
    axes.set_xlim(x[0] - 0.6, x[-1] + 0.6)
    axes.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: formats.day(_day(value))))
    return figure


def _frame(title: str) -> tuple[Figure, Axes]:
    """A fresh figure of the house size with one axes and its title: no state shared."""
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title, fontfamily=FAMILIES, fontsize=13, loc="left")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _bars(
    axes: Axes,
    x: np.ndarray,
    heights: np.ndarray,
    *,
    width: float,
    colour: str,
    label: str,
    bottom: np.ndarray | None = None,
) -> PolyCollection:
    """Bars as one collection of rectangles rather than one patch each (``Axes.bar``): a year
    of daily bars draws several times faster. The caller sets the axis limits."""
    low = np.zeros_like(heights) if bottom is None else bottom
    high = low + heights
    left, right = x - width / 2, x + width / 2
    corners = np.stack(
        [
            np.column_stack([left, low]),
            np.column_stack([left, high]),
            np.column_stack([right, high]),
            np.column_stack([right, low]),
        ],
        axis=1,
    )
    bars = PolyCollection(corners, facecolors=colour, edgecolors="none", label=label)
    axes.add_collection(bars, autolim=False)
    return bars


def _png(figure: Figure) -> bytes:
    """The figure as an opaque RGB PNG, checked against the send limit. One draw (the layout
    is solved inside it), then the pixels straight to Pillow: ``savefig`` with a layout engine
    draws the whole figure twice."""
    canvas = figure.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.draw()
    width, height = canvas.get_width_height(physical=True)
    pixels = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    out = io.BytesIO()
    pixels.convert("RGB").save(out, format="PNG")
    png = out.getvalue()
    if len(png) > MAX_IMAGE_BYTES:  # cannot happen at this size; a loud failure if it does
        raise ValueError(f"the chart has {len(png)} bytes, over {MAX_IMAGE_BYTES}")
    return png


def _not_empty(name: str, values: Sequence[object]) -> None:
    if len(values) == 0:
        raise EmptyChart(f"{name}: nothing to draw")


def _counts(name: str, values: Sequence[float], length: int) -> np.ndarray:
    """``values`` as floats, checked: ``length`` of them, each finite and not negative."""
    if len(values) != length:
        raise ValueError(f"{name}: expected {length} values, got {len(values)}")
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name}: every value must be a finite number, 0 or more")
    return array


def _shares(name: str, values: Sequence[float | None], length: int) -> np.ndarray:
    """``values`` as floats with NaN for ``None``, checked: ``length`` of them, each in 0..1."""
    if len(values) != length:
        raise ValueError(f"{name}: expected {length} values, got {len(values)}")
    array = np.asarray([math.nan if value is None else value for value in values], dtype=float)
    known = array[~np.isnan(array)]
    if not np.isfinite(known).all() or (known < 0).any() or (known > 1).any():
        raise ValueError(f"{name}: every share must be between 0 and 1 (or None)")
    return array


def _headroom(values: np.ndarray) -> float:
    """The top of a count axis: a little above the highest value, and 1 when all are zero
    (an axis from 0 to 0 has no scale)."""
    return max(1.0, float(values.max()) * 1.15)


def _count_ticks(formats: Formats) -> FuncFormatter:
    return FuncFormatter(lambda value, _: formats.count(value))


def _day(value: float) -> date:
    return num2date(value).date()

"""The report's charts: matplotlib (Agg backend) drawings turned into SVG.

What must live here: every use of matplotlib, and the chart shapes the report
draws — horizontal bars (:func:`hbar`), stacked horizontal bars (:func:`stacked`),
grouped horizontal bars (:func:`grouped`) and lines over time (:func:`lines`). The
Agg backend is chosen before pyplot is imported, so drawing never needs a display
or a GUI toolkit; each figure is closed as soon as its SVG is taken, so a report
with many charts does not keep them all in memory. The charts know nothing of
queries: the sections of ``analysis.report`` pick the values and say in each title
what they count.

Why SVG: a published report is zoomed, printed and put on slides; vector charts
stay sharp where PNGs blur. Text stays text (``svg.fonttype = none``), so the value
written beside every bar can be searched, copied and read by screen readers, and
the SVG of the same numbers is the same bytes (fixed id salt, no date), so reports
can be compared with ``diff``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "SEVERITY_COLOURS",
    "VERDICT_COLOURS",
    "Chart",
    "grouped",
    "hbar",
    "lines",
    "stacked",
]

# Stable colours per verdict, from good (green) to bad (red), neutral greys last.
VERDICT_COLOURS: dict[str, str] = {
    "dane_valid": "#1a9850",
    "dane_degraded": "#91cf60",
    "dane_partial": "#d9ef8b",
    "dane_unusable": "#fee08b",
    "dane_broken": "#d73027",
    "dnssec_bogus": "#a50026",
    "dnssec_no_dane": "#4575b4",
    "insecure": "#abd9e9",
    "unverified": "#e0e0e0",
    "no_mail": "#bababa",
    "nxdomain": "#878787",
    "dns_error": "#4d4d4d",
}

_P = ParamSpec("_P")

SEVERITY_COLOURS: dict[str, str] = {"error": "#d73027", "warning": "#fc8d59", "info": "#91bfdb"}


@dataclass(frozen=True)
class Chart:
    """One chart: an SVG drawing and the text that says what it shows and counts."""

    name: str  # file-name stem
    title: str
    svg: bytes

    @property
    def filename(self) -> str:
        return f"{self.name}.svg"

    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg).decode("ascii")


def _drawing(draw: Callable[_P, Chart]) -> Callable[_P, Chart]:
    """Run a chart function under the report's matplotlib settings, without changing
    the caller's (a notebook's) global ones."""

    @functools.wraps(draw)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Chart:
        # Labels are data (host names, codes): "$" must never start mathtext, which
        # would mangle the text or raise on an unbalanced "$". Text stays <text> in
        # the SVG; the same drawing gets the same ids (and no date: see _svg).
        with plt.rc_context(
            {"text.parse_math": False, "svg.fonttype": "none", "svg.hashsalt": "danescan"}
        ):
            return draw(*args, **kwargs)

    return wrapper


def _svg(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def _number(value: float) -> str:
    """A value label: integers without decimals, shares with at most two."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


@_drawing
def hbar(
    name: str,
    title: str,
    labels: list[str],
    values: Sequence[float],
    xlabel: str,
    colours: list[str] | None = None,
) -> Chart:
    """One bar per label, top to bottom, each with its value written beside it."""
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(labels), 2) + 1.2))
    positions = list(range(len(labels)))
    bars = ax.barh(positions, values, color=colours or "#4575b4")
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    ax.bar_label(bars, labels=[_number(v) for v in values], padding=3, fontsize=8)
    ax.margins(x=0.15)
    return Chart(name, title, _svg(fig))


@_drawing
def stacked(
    name: str,
    title: str,
    categories: list[str],
    series: dict[str, list[float]],
    xlabel: str,
    colours: dict[str, str],
    totals: bool = True,
) -> Chart:
    """One bar per category, split into the series (in order), with a legend.

    A segment wide enough to hold it carries its value when its bar has several
    segments, and each bar its total at the end (``totals``; off for shares that add
    up to 100), so the chart can be read without the table.
    """
    fig, ax = plt.subplots(figsize=(9, 0.5 * max(len(categories), 2) + 1.8))
    positions = list(range(len(categories)))
    left = [0.0] * len(categories)
    sums = [sum(vals) for vals in zip(*series.values(), strict=True)] or [0.0]
    widest = max(sums) or 1.0
    parts = [sum(1 for v in vals if v) for vals in zip(*series.values(), strict=True)]
    for label, values in series.items():
        bars = ax.barh(
            positions, values, left=left, label=label, color=colours.get(label, "#999999")
        )
        ax.bar_label(
            bars,
            labels=[
                _number(v) if v >= 0.06 * widest and (parts[i] > 1 or not totals) else ""
                for i, v in enumerate(values)
            ],
            label_type="center",
            fontsize=7,
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    if totals:
        for y, total in zip(positions, left, strict=True):
            ax.text(total, y, " " + _number(total), va="center", fontsize=8)
        ax.set_xlim(0, widest * 1.12)  # room for the totals inside the axes
    ax.set_yticks(positions, categories)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return Chart(name, title, _svg(fig))


@_drawing
def grouped(
    name: str,
    title: str,
    categories: list[str],
    series: dict[str, list[float]],
    xlabel: str,
    colours: dict[str, str],
) -> Chart:
    """Per category, one bar per series side by side, each with its value beside it."""
    n = max(len(series), 1)
    height = 0.8 / n
    fig, ax = plt.subplots(figsize=(8, (0.25 * n + 0.3) * max(len(categories), 2) + 1.5))
    for i, (label, values) in enumerate(series.items()):
        positions = [c + (i - (n - 1) / 2) * height for c in range(len(categories))]
        bars = ax.barh(
            positions, values, height=height, label=label, color=colours.get(label, "#999999")
        )
        ax.bar_label(bars, labels=[_number(v) for v in values], padding=2, fontsize=7)
    ax.set_yticks(list(range(len(categories))), categories)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    ax.margins(x=0.15)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return Chart(name, title, _svg(fig))


@_drawing
def lines(
    name: str,
    title: str,
    times: Sequence[dt.datetime],
    series: Sequence[tuple[str, Sequence[float], str]],
    ylabel: str,
) -> Chart:
    """One line per ``(legend label, values, colour)`` over the scans' start times, on a
    real time axis (scans a week apart are closer than scans a month apart), from 0 up;
    each line's last value is written at its end."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    # numpy datetimes (UTC): matplotlib's date units make a real time axis.
    x = np.array([t.astimezone(dt.UTC).replace(tzinfo=None) for t in times], "datetime64[ms]")
    for label, values, colour in series:
        ax.plot(x, list(values), marker="o", label=label, color=colour)
        if values:
            ax.annotate(
                _number(values[-1]),
                (x[-1], values[-1]),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
                color=colour,
            )
    # Few, short date labels ("Oct", "15", "2027"): the concise form never overlaps.
    locator = mdates.AutoDateLocator(maxticks=7)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_xlabel("scan start (UTC)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_ylim(bottom=0)
    ax.margins(x=0.08)
    return Chart(name, title, _svg(fig))

"""The report's charts: matplotlib (Agg backend) drawings turned into PNG bytes.

What must live here: every use of matplotlib, and the three chart shapes the
report draws — horizontal bars (:func:`hbar`), stacked horizontal bars
(:func:`stacked`) and lines across scans (:func:`lines`). The Agg backend is
chosen before pyplot is imported, so drawing never needs a display or a GUI
toolkit; each figure is closed as soon as its PNG is taken, so a report with many
charts does not keep them all in memory. The charts know nothing of queries:
the sections of ``analysis.report`` pick the values and say in each title what
they count.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.pyplot as plt

__all__ = ["VERDICT_COLOURS", "Chart", "hbar", "lines", "stacked"]

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


@dataclass(frozen=True)
class Chart:
    """One chart: a PNG and the text that says what it shows and counts."""

    name: str  # file-name stem
    title: str
    png: bytes

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def hbar(
    name: str,
    title: str,
    labels: list[str],
    values: list[float],
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
    ax.bar_label(bars, labels=[f"{v:g}" for v in values], padding=3, fontsize=8)
    ax.margins(x=0.12)
    return Chart(name, title, _png(fig))


def stacked(
    name: str,
    title: str,
    categories: list[str],
    series: dict[str, list[float]],
    xlabel: str,
    colours: dict[str, str],
) -> Chart:
    """One bar per category, split into the series (in order), with a legend."""
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(len(categories), 2) + 1.8))
    positions = list(range(len(categories)))
    left = [0.0] * len(categories)
    for label, values in series.items():
        ax.barh(positions, values, left=left, label=label, color=colours.get(label, "#999999"))
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(positions, categories)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return Chart(name, title, _png(fig))


def lines(
    name: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, list[float], str]],
    ylabel: str,
) -> Chart:
    """One line per ``(legend label, values, colour)`` over the x labels (scans), from 0 up."""
    fig, ax = plt.subplots(figsize=(8, 4))
    x = list(range(len(labels)))
    for label, values, colour in series:
        ax.plot(x, values, marker="o", label=label, color=colour)
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8)
    ax.set_ylim(bottom=0)
    return Chart(name, title, _png(fig))

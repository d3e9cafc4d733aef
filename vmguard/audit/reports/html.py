"""The HTML report: one self-contained page (inline CSS and SVG, no scripts, no fetches).

Jinja2 autoescaping is on for every template: VM names, paths and messages are
attacker-influenced text and must never become markup. Every value a template prints
also goes through display.shown(), so control and bidi characters are shown as escapes.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from vmguard.audit.reports.interface import Document, Format
from vmguard.core.display import shown

TEMPLATES = Path(__file__).parent / "templates"
CHART_RUNS = 30  # the trend chart shows the last runs only
CHART_W, CHART_H, BAR_GAP, BAR_MAX = 600, 120, 4, 40
PAD_LEFT, PAD_BOTTOM, X_LABELS, LABEL_W = 40, 40, 6, 72  # axes' room; dated ticks: at most, px apart
COLORS = {"critical": "#7f0000", "high": "#d32f2f", "medium": "#f57c00", "low": "#fbc02d", "info": "#90a4ae"}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    label: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    lines: tuple[str, ...]  # a date tick: the day, then the time


def _bar_width(points: list[dict]) -> float:
    return min((CHART_W - PAD_LEFT) / max(len(points), 1), BAR_MAX)


def trend_bars(trend: list[dict]) -> list[Bar]:
    """Stacked bars, one per run, severities bottom-up from critical."""
    points = trend[-CHART_RUNS:]
    top = max([sum(p["counts"].values()) for p in points] + [1])
    width = _bar_width(points)
    bars = []
    for i, point in enumerate(points):
        base = CHART_H
        for severity, color in COLORS.items():
            count = point["counts"].get(severity, 0)
            height = CHART_H * count / top
            base -= height
            if count:
                label = f"{point.get('started') or point['run']}: {count} {severity}"
                bars.append(Bar(PAD_LEFT + i * width, base, width - BAR_GAP, height, color, label))
    return bars


def _when(point: dict) -> tuple[str, ...]:
    started = point.get("started")  # ISO 8601 UTC, or None for a run without a dated name
    return (started[:10], started[11:16] + " UTC") if started else (point["run"][:10],)


def x_ticks(trend: list[dict]) -> list[Tick]:
    """The runs' start dates under the bars: the latest run's, and evenly before it."""
    points = trend[-CHART_RUNS:]
    width = _bar_width(points)
    step = max(1, -(-len(points) // X_LABELS), -(-LABEL_W // int(width)))  # labels never overlap
    chosen = sorted(range(len(points) - 1, -1, -step))  # counted back from the latest run
    return [
        Tick(PAD_LEFT + i * width + (width - BAR_GAP) / 2, CHART_H + 14, _when(points[i])) for i in chosen
    ]


def y_ticks(trend: list[dict]) -> list[Tick]:
    """0, half and the tallest bar's count, at their heights."""
    top = trend_top(trend)
    values = sorted({0, top // 2, top}) if top else [0]
    return [Tick(PAD_LEFT - 6, max(CHART_H - CHART_H * v / max(top, 1) + 4, 10), (str(v),)) for v in values]


_CODE_SPAN = re.compile(r"`([^`]+)`")


@functools.cache  # a few dozen catalog texts, rendered for thousands of findings
def code_spans(text: str) -> Markup:
    """Catalog text with `code` spans as <code>; every piece is escaped (format escapes)."""
    parts = _CODE_SPAN.split(text)  # plain, code, plain, code, ...
    return Markup("").join(
        Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts)
    )


def _finalize(value: object) -> object:
    """What `{{ value }}` prints: text shown(), markup (macros, filters) as it is."""
    return shown(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    """The one way vmguard's HTML templates are set up (audit and fleet reports)."""
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["code_spans"] = code_spans
    env.filters["shown"] = shown  # for text a filter turns into markup (join)
    return env


_ENV = environment(jinja2.FileSystemLoader(TEMPLATES))


def trend_top(trend: list[dict]) -> int:
    return max([sum(p["counts"].values()) for p in trend[-CHART_RUNS:]] + [0])


def render(doc: Document) -> str:
    template = _ENV.get_template("report.html.j2")
    return template.render(
        doc=doc,
        bars=trend_bars(doc["trend"]),
        top=trend_top(doc["trend"]),
        x_ticks=x_ticks(doc["trend"]),
        y_ticks=y_ticks(doc["trend"]),
        colors=COLORS,
        chart_w=CHART_W,
        chart_h=CHART_H,
        pad_left=PAD_LEFT,
        pad_bottom=PAD_BOTTOM,
        runs=len(doc["trend"][-CHART_RUNS:]),
    )


FORMAT = Format("html", "report.html", render)

"""Turning store data into what the templates show: times, amounts, SHAP bars.

The Jinja2 environment autoescapes everything (``autoescape=True`` for every
template, not by file extension) and fails on an undefined name rather than
printing nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

__all__ = ["ShapBar", "make_environment", "shap_bars"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
#: The SVG bar's drawing width; half of it on each side of zero.
BAR_WIDTH = 200.0


@dataclass(frozen=True, slots=True)
class ShapBar:
    """One feature's contribution, drawn from the middle: right raises the risk, left lowers it."""

    feature: str
    value: float | None
    contribution: float
    x: float
    width: float

    @property
    def raises_risk(self) -> bool:
        return self.contribution > 0


def shap_bars(contributions: list[dict[str, Any]]) -> list[ShapBar]:
    """Bars scaled so the largest contribution spans half the drawing, largest first."""
    ordered = sorted(contributions, key=lambda c: abs(float(c["contribution"])), reverse=True)
    largest = max((abs(float(c["contribution"])) for c in ordered), default=0.0)
    half = BAR_WIDTH / 2
    bars = []
    for item in ordered:
        contribution = float(item["contribution"])
        width = half * abs(contribution) / largest if largest > 0 else 0.0
        bars.append(
            ShapBar(
                feature=str(item["feature"]),
                value=item.get("value"),
                contribution=contribution,
                x=half if contribution > 0 else half - width,
                width=round(width, 2),
            )
        )
    return bars


def format_time(epoch_ms: int | None) -> str:
    if epoch_ms is None:
        return ""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_amount(amount: float | None, currency: str | None = None) -> str:
    if amount is None:
        return "-"
    return f"{amount:,.2f} {currency}" if currency else f"{amount:,.2f}"


def format_value(value: float | None) -> str:
    """A feature value as served; ``None`` is a missing value, shown as such."""
    if value is None:
        return "missing"
    return f"{value:,.4g}"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = format_time
    env.filters["amount"] = format_amount
    env.filters["value"] = format_value
    # A path segment: unlike Jinja's urlencode, "/" is encoded too.
    env.filters["path"] = lambda text: quote(str(text), safe="")
    return env

"""Small helpers shared by the benchmarks: percentiles and a plain-text table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["percentiles_ms", "table"]


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / p99.9 / max of durations given in seconds, in milliseconds."""
    if not seconds:
        return {
            "p50": float("nan"),
            "p99": float("nan"),
            "p99.9": float("nan"),
            "max": float("nan"),
        }
    ms = np.asarray(seconds) * 1000.0
    p50, p99, p999 = np.percentile(ms, [50, 99, 99.9])
    return {"p50": float(p50), "p99": float(p99), "p99.9": float(p999), "max": float(ms.max())}


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)

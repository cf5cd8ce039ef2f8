"""PSI: known values on hand-made samples, missing values as a bin, the report and its files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.drift import (
    SCORE,
    drift_report,
    format_drift,
    population_stability_index,
    save_drift_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
T0 = 1_767_225_600_000


def test_psi_of_a_known_shift_between_two_values() -> None:
    reference = [0.0] * 50 + [1.0] * 50
    recent = [0.0] * 80 + [1.0] * 20
    # Two occupied bins: 0.5/0.5 before, 0.8/0.2 now.
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert population_stability_index(reference, recent) == pytest.approx(expected, abs=1e-9)


def test_the_same_distribution_is_stable_and_a_shifted_one_is_not() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 1.0, 20_000)
    same = population_stability_index(reference, rng.normal(0.0, 1.0, 20_000))
    moved = population_stability_index(reference, rng.normal(0.6, 1.0, 20_000))
    assert same is not None and same < 0.01
    assert moved is not None and moved > 0.25


def test_values_going_missing_is_drift() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=5000)
    recent = rng.normal(size=5000)
    recent[:1000] = np.nan
    psi = population_stability_index(reference, recent)
    assert psi is not None and psi > 0.5


def test_an_empty_sample_has_no_psi() -> None:
    assert population_stability_index([], [1.0, 2.0]) is None
    assert population_stability_index([1.0, 2.0], []) is None


def _frame(values: dict[str, np.ndarray], start_ms: int) -> pd.DataFrame:
    rows = len(next(iter(values.values())))
    return pd.DataFrame({"event_time_ms": start_ms + np.arange(rows) * 60_000, **values})


def test_the_report_flags_what_moved_and_writes_json_and_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 4000
    reference = _frame(
        {
            "steady": rng.normal(size=n),
            "moved": rng.normal(size=n),
            SCORE: rng.beta(1, 20, n),
        },
        T0,
    )
    recent = _frame(
        {
            "steady": rng.normal(size=n),
            "moved": rng.normal(1.0, 1.0, n),
            SCORE: rng.beta(1, 20, n),
        },
        T0 + 10 * 86_400_000,
    )
    report = drift_report(reference, recent, ["steady", "moved"], threshold=0.2)
    assert [p.name for p in report.features] == ["moved", "steady"]  # largest first
    assert report.drifted == ["moved"]
    assert report.score is not None and report.score.psi is not None and report.score.psi < 0.05
    assert (report.reference_rows, report.recent_rows) == (n, n)
    assert report.recent_start_ms == T0 + 10 * 86_400_000

    table = format_drift(report)
    moved_line = next(line for line in table.splitlines() if line.startswith("moved"))
    assert moved_line.endswith("DRIFT")
    assert "1 of 2 features above PSI 0.2" in table

    data, picture = save_drift_report(report, tmp_path / "drift")
    saved = json.loads(data.read_text(encoding="utf-8"))
    assert saved["drifted"] == ["moved"]
    assert saved["features"][0]["name"] == "moved"
    assert saved["features"][0]["psi"] == pytest.approx(report.features[0].psi)
    assert picture.read_bytes()[:8] == PNG_MAGIC and picture.stat().st_size > 5000


def test_a_drifted_score_is_reported_next_to_the_features() -> None:
    rng = np.random.default_rng(3)
    reference = _frame({"x": rng.normal(size=3000), SCORE: rng.beta(1, 30, 3000)}, T0)
    recent = _frame({"x": rng.normal(size=3000), SCORE: rng.beta(3, 10, 3000)}, T0)
    report = drift_report(reference, recent, ["x"], threshold=0.2)
    assert report.drifted == [SCORE]
    assert "score PSI" in report.summary()

"""The latency benchmark runs and reports numbers (printed by the CLI, never asserted on)."""

from __future__ import annotations

import math

from models.bench import benchmark_scoring, format_latency
from models.frame import feature_matrix
from models.scorer_model import ScoringModel
from models.train import TrainingResult


def test_benchmark_reports_single_row_and_batch_latency(trained: TrainingResult) -> None:
    bundle = trained.scorers["xgboost"].bundle
    model = ScoringModel(name="m", version="1", alias=None, bundle=bundle)
    rows = feature_matrix(trained.frames.test, bundle.feature_names)
    report = benchmark_scoring(
        model, rows, single_calls=50, batch_rows=256, batch_calls=5, explain_calls=5
    )
    assert report.batch_rows == 256 and report.features == len(bundle.feature_names)
    numbers = (
        report.single_row_p50_us,
        report.single_row_p99_us,
        report.per_row_in_batch_us,
        report.inplace_single_row_p50_us,
        report.explain_single_row_p50_us,
        report.pred_contribs_single_row_p50_us,
    )
    assert all(n is not None and math.isfinite(n) and n > 0 for n in numbers)
    assert report.single_row_p99_us >= report.single_row_p50_us
    text = format_latency(report)
    assert "one row" in text and "batch of 256" in text and "inplace_predict" in text
    assert "explain one flagged row" in text and "pred_contribs" in text


def test_a_model_without_explanations_reports_none_for_them(trained: TrainingResult) -> None:
    assert trained.cold_start is not None
    bundle = trained.cold_start.bundle
    model = ScoringModel(name="cold", version="1", alias=None, bundle=bundle)
    rows = feature_matrix(trained.frames.test, bundle.feature_names)
    report = benchmark_scoring(model, rows, single_calls=20, batch_rows=256, batch_calls=3)
    assert report.explain_single_row_p50_us is None
    assert report.pred_contribs_single_row_p50_us is None
    assert "explain one flagged row" not in format_latency(report)

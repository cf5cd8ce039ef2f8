"""Scoring latency, measured the way the scorer calls the model. Printed, never asserted.

Targets (XGBoost, ~300 trees, depth 6): one row <= 100 µs; a batch of 512
<= 5 µs per row. Also timed: the exact SHAP explanation of one flagged row
as the scorer asks for it, next to XGBoost's own ``pred_contribs``.
``benchmark_scoring`` measures any loaded ``ScoringModel``;
``benchmark_synthetic_xgboost`` first trains a model of that shape on
synthetic data, so the numbers exist before any real model does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xgboost as xgb
from numpy.typing import NDArray

from contracts.settings import MlflowSettings
from models.bundle import ModelBundle
from models.frame import feature_matrix
from models.predictor import ContributionPredictor
from models.scorer_model import ScoringModel, load_scoring_model
from models.thresholds import Thresholds

__all__ = [
    "LatencyReport",
    "benchmark_registered",
    "benchmark_scoring",
    "benchmark_synthetic_xgboost",
    "format_latency",
]


@dataclass(frozen=True)
class LatencyReport:
    model: str
    features: int
    single_row_p50_us: float
    single_row_p99_us: float
    batch_rows: int
    batch_p50_us: float
    per_row_in_batch_us: float
    #: XGBoost's own ``inplace_predict`` on one row, for comparison (None for other families).
    inplace_single_row_p50_us: float | None
    #: ``model.explain`` on one row (exact SHAP, top features), None for models without.
    explain_single_row_p50_us: float | None = None
    #: XGBoost's own ``pred_contribs`` on one row (a DMatrix each), for comparison.
    pred_contribs_single_row_p50_us: float | None = None


def benchmark_scoring(
    model: ScoringModel,
    rows: NDArray[np.float32],
    *,
    single_calls: int = 2000,
    batch_rows: int = 512,
    batch_calls: int = 200,
    explain_calls: int = 200,
    progress: bool = False,
) -> LatencyReport:
    """Time ``model.predict`` on one row at a time and on batches of ``batch_rows``.

    ``rows`` are real-looking feature vectors (at least ``batch_rows`` of them);
    each timed call gets a C-contiguous float32 array, as the scorer passes.
    """
    from tqdm.auto import tqdm

    matrix = np.ascontiguousarray(rows, dtype=np.float32)
    if matrix.shape[0] < batch_rows:
        raise ValueError(f"need at least {batch_rows} rows, got {matrix.shape[0]}")
    singles = [np.ascontiguousarray(matrix[i : i + 1]) for i in range(min(256, len(matrix)))]
    batch = np.ascontiguousarray(matrix[:batch_rows])
    with tqdm(total=4, desc="bench", unit="phase", disable=not progress) as bar:
        single = _time_calls(lambda i: model.predict(singles[i % len(singles)]), single_calls)
        bar.update(1)
        batched = _time_calls(lambda _i: model.predict(batch), batch_calls)
        bar.update(1)
        inplace = None
        booster = getattr(model.bundle.predictor, "booster", None)
        if model.family == "xgboost" and booster is not None:
            inplace = _time_calls(
                lambda i: booster.inplace_predict(
                    singles[i % len(singles)], validate_features=False
                ),
                single_calls,
            )
        bar.update(1)
        explained = contribs = None
        if isinstance(model.bundle.predictor, ContributionPredictor):
            explained = _time_calls(
                lambda i: model.explain(singles[i % len(singles)]), explain_calls
            )
            if model.family == "xgboost" and booster is not None:
                contribs = _time_calls(
                    lambda i: booster.predict(
                        xgb.DMatrix(singles[i % len(singles)], missing=np.nan, nthread=1),
                        pred_contribs=True,
                    ),
                    explain_calls,
                )
        bar.update(1)
    return LatencyReport(
        model=f"{model.name} v{model.version} ({model.family})",
        features=len(model.feature_names),
        single_row_p50_us=float(np.percentile(single, 50)),
        single_row_p99_us=float(np.percentile(single, 99)),
        batch_rows=batch_rows,
        batch_p50_us=float(np.percentile(batched, 50)),
        per_row_in_batch_us=float(np.percentile(batched, 50) / batch_rows),
        inplace_single_row_p50_us=_p50(inplace),
        explain_single_row_p50_us=_p50(explained),
        pred_contribs_single_row_p50_us=_p50(contribs),
    )


def benchmark_synthetic_xgboost(
    *,
    trees: int = 300,
    depth: int = 6,
    features: int = 32,
    seed: int = 0,
    progress: bool = False,
) -> LatencyReport:
    """Train an XGBoost model of the target shape on synthetic data, then benchmark it."""
    from models.predictor import positive_class_weight
    from models.synthetic import HISTORY_FEATURES, make_synthetic_data
    from models.xgb_model import XGBoostParams, train_xgboost

    base = len(HISTORY_FEATURES) + 9  # the synthetic frame's informative features
    data = make_synthetic_data(rows=20_000, noise_features=max(0, features - base), seed=seed)
    matrix = feature_matrix(data.frame, data.spec.feature_names)
    is_fraud = data.frame["tx_id"].isin(data.labels.loc[data.labels["is_fraud"], "tx_id"])
    labels = is_fraud.to_numpy(dtype=bool)
    predictor = train_xgboost(
        matrix,
        labels,
        params=XGBoostParams(n_estimators=trees, max_depth=depth),
        positive_weight=positive_class_weight(labels, "sqrt"),
        seed=seed,
        n_jobs=2,
    )
    bundle = ModelBundle(predictor, data.spec.feature_names, Thresholds(0.5, 0.9, "benchmark"))
    model = ScoringModel(name="synthetic", version="0", alias=None, bundle=bundle)
    model.predict(matrix[:1])  # warm up (compiles the flat walk)
    return benchmark_scoring(model, matrix, progress=progress)


def benchmark_registered(
    settings: MlflowSettings,
    *,
    name: str | None = None,
    alias: str = "champion",
    rows: NDArray[np.float32] | None = None,
    progress: bool = False,
) -> LatencyReport:
    """Benchmark a registered version as the scorer would load it.

    Without ``rows``, seeded standard-normal vectors with 10 % missing values
    stand in (latency depends on tree paths, not on realism).
    """
    model = load_scoring_model(settings, name=name, alias=alias)
    if rows is None:
        rng = np.random.default_rng(0)
        rows = rng.normal(size=(4096, len(model.feature_names))).astype(np.float32)
        rows[rng.random(rows.shape) < 0.1] = np.nan
    return benchmark_scoring(model, rows, progress=progress)


def format_latency(report: LatencyReport) -> str:
    lines = [
        f"model: {report.model}, {report.features} features",
        f"one row:        p50 {report.single_row_p50_us:8.1f} µs   "
        f"p99 {report.single_row_p99_us:8.1f} µs   (target <= 100 µs)",
        f"batch of {report.batch_rows}:   p50 {report.batch_p50_us:8.1f} µs   "
        f"= {report.per_row_in_batch_us:.2f} µs per row   (target <= 5 µs per row)",
    ]
    if report.inplace_single_row_p50_us is not None:
        lines.append(
            f"for reference, XGBoost inplace_predict on one row: "
            f"p50 {report.inplace_single_row_p50_us:.1f} µs (its fixed cost per call)"
        )
    if report.explain_single_row_p50_us is not None:
        lines.append(
            f"explain one flagged row (exact SHAP): p50 {report.explain_single_row_p50_us:8.1f} µs"
        )
    if report.pred_contribs_single_row_p50_us is not None:
        lines.append(
            f"for reference, XGBoost pred_contribs on one row: "
            f"p50 {report.pred_contribs_single_row_p50_us:.1f} µs"
        )
    return "\n".join(lines)


def _p50(durations: NDArray[np.float64] | None) -> float | None:
    return None if durations is None else float(np.percentile(durations, 50))


def _time_calls(call: Callable[[int], object], count: int) -> NDArray[np.float64]:
    for i in range(min(50, count)):  # warm caches and branch predictors first
        call(i)
    durations = np.empty(count, dtype=np.float64)
    clock = time.perf_counter_ns
    for i in range(count):
        started = clock()
        call(i)
        durations[i] = (clock() - started) / 1000.0
    return durations

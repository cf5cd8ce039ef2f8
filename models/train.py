"""Train every model family on one point-in-time split and evaluate each on the later slice.

``train_candidates`` is the pure part of ``fraudstream train``: frames in,
fitted bundles and their evaluation reports out, nothing written anywhere.
``models.workflow`` adds MLflow logging, plots and registration on top.

Reproducible by construction: one seed feeds every family, thread counts are
fixed, and the split is a function of the data and the config only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.bundle import ModelBundle
from models.cold_start import ColdStartParams, train_cold_start
from models.exceptions import TrainingError
from models.frame import LABEL_COLUMN, FeatureSpec, check_feature_frame, check_label_frame
from models.frame import feature_matrix as to_matrix
from models.lgbm_model import LightGBMParams, train_lightgbm
from models.logistic_model import LogisticParams, train_logistic
from models.metrics import EvaluationReport, evaluate_scores
from models.predictor import Imbalance, Predictor, ScorerFamily, positive_class_weight
from models.split import DAY_MS, SplitConfig, SplitFrames, plan_time_split, split_frames
from models.thresholds import ThresholdPolicy, choose_thresholds
from models.xgb_model import XGBoostParams, train_xgboost

__all__ = ["SERVING_MARGIN", "Candidate", "TrainConfig", "TrainingResult", "train_candidates"]


@dataclass(frozen=True)
class TrainConfig:
    split: SplitConfig = field(default_factory=SplitConfig)
    thresholds: ThresholdPolicy = field(default_factory=ThresholdPolicy)
    families: tuple[ScorerFamily, ...] = ("xgboost", "lightgbm", "logistic")
    cold_start: bool = True
    imbalance: Imbalance = "sqrt"
    seed: int = 7
    #: Training threads (serving always uses one).
    n_jobs: int = 2
    recall_fpr: float = 0.01
    card_k: int = 50
    xgboost: XGBoostParams = field(default_factory=XGBoostParams)
    lightgbm: LightGBMParams = field(default_factory=LightGBMParams)
    logistic: LogisticParams = field(default_factory=LogisticParams)
    cold_start_params: ColdStartParams = field(default_factory=ColdStartParams)
    #: The cold-start model is judged (and its thresholds set) on the test slice's
    #: cold-start rows when there are at least this many, else on all test rows.
    min_cold_start_rows: int = 200

    def as_params(self) -> dict[str, Any]:
        """Flat ``section.key -> value`` parameters (for MLflow)."""
        flat: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, dict):
                flat.update({f"{key}.{inner}": item for inner, item in value.items()})
            else:
                flat[key] = value
        return flat


@dataclass(frozen=True)
class Candidate:
    """One fitted model, its evaluation, and its scores on the evaluated rows."""

    bundle: ModelBundle
    report: EvaluationReport
    #: The labeled rows it was evaluated on (the whole test slice, or its cold-start rows).
    rows: pd.DataFrame
    scores: NDArray[np.float32]
    #: Which rows those are, in words.
    slice_name: str = "test slice"


#: When choosing the challenger, a family listed earlier (XGBoost, which serves
#: about twice as fast per row as LightGBM on the scorer's hot path) is kept
#: unless another beats it by at least this much PR-AUC: the gain promotion asks
#: for, so a hair's difference in quality never costs serving speed.
SERVING_MARGIN = 0.005


@dataclass(frozen=True)
class TrainingResult:
    frames: SplitFrames
    #: Supervised scorer candidates by family, in ``TrainConfig.families`` order.
    scorers: dict[str, Candidate]
    cold_start: Candidate | None
    config: TrainConfig

    def best_scorer(self) -> Candidate:
        """The scorer candidate with the highest average precision (first listed on ties)."""
        return max(self.scorers.values(), key=lambda c: c.report.average_precision or -1.0)

    def preferred_family(self, families: Sequence[str], margin: float = SERVING_MARGIN) -> str:
        """The first of ``families`` (listed cheapest to serve first) whose PR-AUC is
        within ``margin`` of the best of them."""
        precision = {f: self.scorers[f].report.average_precision or -1.0 for f in families}
        best = max(precision.values())
        return next(f for f in families if precision[f] >= best - margin)


def train_candidates(
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    spec: FeatureSpec,
    config: TrainConfig | None = None,
    *,
    progress: bool = False,
) -> TrainingResult:
    """Split in time, train each family and the cold-start model, evaluate on the later slice."""
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    check_feature_frame(frame, spec)
    check_label_frame(labels)
    frames = split_frames(frame, labels, plan_time_split(frame, labels, config.split))
    train_y = frames.train[LABEL_COLUMN].to_numpy(dtype=bool)
    if config.cold_start:
        # Before any family is fitted: failing after minutes of training three is worse.
        _require_cold_start_rows(int((~train_y).sum()), frames, config)
    train_x = to_matrix(frames.train, spec.feature_names)
    weight = positive_class_weight(train_y, config.imbalance)
    metadata = {
        "split": frames.split.as_params(),
        "seed": config.seed,
        "imbalance": config.imbalance,
        "positive_weight": weight,
        "train_rows": len(frames.train),
        "train_fraud_rows": int(train_y.sum()),
    }

    # The test slice's span in days, for alerts per day (capacity, reports).
    days = (frames.split.test_end_ms - frames.split.test_start_ms) / DAY_MS
    scorers: dict[str, Candidate] = {}
    with tqdm(config.families, desc="train", unit="model", disable=not progress) as families:
        for family in families:
            families.set_postfix_str(family)
            predictor = _fit_scorer(family, train_x, train_y, weight, config, progress)
            scorers[family] = _evaluate(
                family, predictor, frames.test, spec.feature_names, metadata, config, days=days
            )

    cold: Candidate | None = None
    if config.cold_start:
        cold_x = to_matrix(frames.train, spec.cold_start_features)
        predictor = train_cold_start(
            cold_x, train_y, params=config.cold_start_params, seed=config.seed
        )
        cold_rows, slice_name = _cold_start_slice(frames.test, config.min_cold_start_rows)
        cold = _evaluate(
            "isolation_forest",
            predictor,
            cold_rows,
            spec.cold_start_features,
            {**metadata, "evaluated_on": slice_name},
            config,
            days=days,
            slice_name=slice_name,
        )
    return TrainingResult(frames=frames, scorers=scorers, cold_start=cold, config=config)


def _require_cold_start_rows(legitimate: int, frames: SplitFrames, config: TrainConfig) -> None:
    """``TrainingError`` when the cold-start model would have too few legitimate rows.

    It learns "normal" from every legitimate training row (not only cold-start ones),
    and an unlabelled row only counts as legitimate once older than the maturity
    period at the cutoff: on a short history that leaves the analyst-cleared few.
    """
    needed = config.cold_start_params.min_legitimate_rows
    if legitimate >= needed:
        return
    maturity, test_days = config.split.maturity_days, config.split.test_days
    window = frames.split.train_end_ms - frames.split.train_start_ms
    # Advice in the options of `fraudstream simulate` and `fraudstream train`. A smaller
    # --test-days moves the cutoff, and with it the maturity line, later; a smaller
    # --gap-days only adds young rows, which count only where labelled.
    raise TrainingError(
        f"the cold-start model needs at least {needed} legitimate rows in the training window, "
        f"found {legitimate} in its {window / DAY_MS:.1f} days: unlabelled rows count as "
        f"legitimate only once {maturity:g} days old at the cutoff, so the history must run "
        f"well over --test-days + {maturity:g} = {test_days + maturity:g} days: simulate more "
        "--days (or --customers), or use a smaller --test-days",
        family="isolation_forest",
    )


def _fit_scorer(
    family: ScorerFamily,
    features: NDArray[np.float32],
    is_fraud: NDArray[np.bool_],
    weight: float,
    config: TrainConfig,
    progress: bool,
) -> Predictor:
    from tqdm.auto import tqdm

    if family == "logistic":
        return train_logistic(
            features, is_fraud, params=config.logistic, positive_weight=weight, seed=config.seed
        )
    trees = config.xgboost.n_estimators if family == "xgboost" else config.lightgbm.n_estimators
    with tqdm(total=trees, desc=family, unit="tree", leave=False, disable=not progress) as bar:

        def tick() -> None:
            bar.update(1)

        if family == "xgboost":
            return train_xgboost(
                features,
                is_fraud,
                params=config.xgboost,
                positive_weight=weight,
                seed=config.seed,
                n_jobs=config.n_jobs,
                on_round=tick,
            )
        return train_lightgbm(
            features,
            is_fraud,
            params=config.lightgbm,
            positive_weight=weight,
            seed=config.seed,
            n_jobs=config.n_jobs,
            on_round=tick,
        )


def _evaluate(
    family: str,
    predictor: Predictor,
    rows: pd.DataFrame,
    feature_names: tuple[str, ...],
    metadata: dict[str, Any],
    config: TrainConfig,
    *,
    days: float,
    slice_name: str = "test slice",
) -> Candidate:
    scores = predictor.predict(to_matrix(rows, feature_names))
    fraud = rows[LABEL_COLUMN].to_numpy(dtype=bool)
    thresholds = choose_thresholds(scores, fraud, days, config.thresholds)
    report = evaluate_scores(
        family,
        rows,
        scores,
        thresholds,
        days=days,
        recall_fpr=config.recall_fpr,
        card_k=config.card_k,
    )
    bundle = ModelBundle(predictor, feature_names, thresholds, metadata={**metadata})
    return Candidate(bundle=bundle, report=report, rows=rows, scores=scores, slice_name=slice_name)


def _cold_start_slice(test: pd.DataFrame, min_rows: int) -> tuple[pd.DataFrame, str]:
    """The test slice's cold-start rows, or all of it when they are too few to judge on.

    New cards cluster where a portfolio grows; a quiet slice may hold a handful
    of first transactions. The features the model reads exist for every row,
    so the whole slice is the next best estimate of its false-positive rate.
    """
    cold = test.loc[test["cold_start"].to_numpy(dtype=bool)]
    if len(cold) >= min_rows:
        return cold, "cold-start rows"
    return test, f"all test rows (only {len(cold)} cold-start rows)"

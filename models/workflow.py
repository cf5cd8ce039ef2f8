"""``fraudstream train`` as a function: train, report, log to MLflow, register, alias.

What lands where:

* one MLflow run per model (the logistic baseline included), with the
  training config as params, every evaluation number as metrics, the report
  table and plots as artifacts and the bundle as a pyfunc model;
* the families in ``register`` become versions of the scorer's registered
  model (``MlflowSettings.registered_model``); the chosen one gets the alias
  ``challenger``;
* the cold-start model becomes a version of ``MlflowSettings.cold_start_model``
  with the alias ``challenger``.

Nothing here moves ``champion``: that is ``models.promote``'s decision, on a
slice both models have never seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from contracts.settings import MlflowSettings
from models.exceptions import ModelError
from models.explain import contribution_matrix
from models.frame import LABEL_COLUMN, FeatureSpec
from models.frame import feature_matrix as to_matrix
from models.predictor import ContributionPredictor, ScorerFamily
from models.registry import ModelRegistry
from models.report import ScoredSlice, ShapSummary, format_report, save_plots
from models.train import Candidate, TrainConfig, TrainingResult, train_candidates

__all__ = ["TrainingOutcome", "train_and_register"]

CHALLENGER = "challenger"
#: SHAP summary plots are drawn from at most this many test rows (enough for the picture).
_SHAP_SAMPLE_ROWS = 2000
_FAMILY_SECTIONS = {
    "xgboost": "xgboost.",
    "lightgbm": "lightgbm.",
    "logistic": "logistic.",
    "isolation_forest": "cold_start_params.",
}


@dataclass(frozen=True)
class TrainingOutcome:
    result: TrainingResult
    report_text: str
    #: MLflow run id per family.
    runs: dict[str, str]
    #: Registered version per family (scorer families in ``register`` and ``isolation_forest``).
    versions: dict[str, str]
    challenger_family: str
    challenger_version: str
    cold_start_version: str | None
    artifacts: list[Path] = field(default_factory=list)


def train_and_register(
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    spec: FeatureSpec,
    settings: MlflowSettings,
    config: TrainConfig | None = None,
    *,
    out_dir: Path,
    register: Sequence[ScorerFamily] = ("xgboost", "lightgbm"),
    challenger: ScorerFamily | Literal["best"] = "best",
    experiment: str = "fraudstream",
    progress: bool = True,
) -> TrainingOutcome:
    """Train every family, write the report to ``out_dir``, log and register in MLflow.

    ``challenger="best"`` puts the alias on the registered family with the
    highest average precision on the test slice, keeping the first listed (the
    cheaper to serve) unless another beats it by ``SERVING_MARGIN``.
    """
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    missing = [f for f in register if f not in config.families]
    if missing or (challenger != "best" and challenger not in register):
        raise ModelError(f"cannot register {missing or [challenger]}: not trained/registered")
    result = train_candidates(frame, labels, spec, config, progress=progress)
    candidates: dict[str, Candidate] = dict(result.scorers)
    if result.cold_start is not None:
        candidates["isolation_forest"] = result.cold_start

    out_dir.mkdir(parents=True, exist_ok=True)
    split = result.frames.split
    title = (
        f"test slice {_utc(split.test_start_ms)} .. {_utc(split.test_end_ms)} UTC, "
        f"labels known at {_utc(split.evaluate_at_ms)}"
    )
    if result.cold_start is not None:
        title += f"; isolation_forest judged on {result.cold_start.slice_name}"
    report_text = format_report([c.report for c in candidates.values()], title=title)
    report_path = out_dir / "report.txt"
    report_path.write_text(report_text + "\n", encoding="utf-8")
    chosen = _choose_challenger(result, register, challenger)
    artifacts = [report_path, *_plots(out_dir / "plots", candidates, result, chosen)]

    registry = ModelRegistry(settings, experiment=experiment)
    runs: dict[str, str] = {}
    versions: dict[str, str] = {}
    params = config.as_params()
    with tqdm(candidates.items(), desc="mlflow", unit="model", disable=not progress) as steps:
        for family, candidate in steps:
            steps.set_postfix_str(family)
            logged = registry.log_model_run(
                candidate.bundle,
                run_name=family,
                params=_params_for(family, params),
                metrics=candidate.report.metrics(),
                artifacts=artifacts,
                tags={"role": "cold_start" if family == "isolation_forest" else "scorer"},
            )
            runs[family] = logged.run_id
            if family == "isolation_forest":
                name = settings.cold_start_model
            elif family in register:
                name = settings.registered_model
            else:
                continue
            tags = {"family": family, "label_cutoff_ms": str(split.label_cutoff_ms)}
            versions[family] = registry.register(name, logged, tags=tags)

    registry.set_alias(settings.registered_model, CHALLENGER, versions[chosen])
    cold_version = versions.get("isolation_forest")
    if cold_version is not None:
        registry.set_alias(settings.cold_start_model, CHALLENGER, cold_version)
    return TrainingOutcome(
        result=result,
        report_text=report_text,
        runs=runs,
        versions=versions,
        challenger_family=chosen,
        challenger_version=versions[chosen],
        cold_start_version=cold_version,
        artifacts=artifacts,
    )


def _choose_challenger(
    result: TrainingResult, register: Sequence[ScorerFamily], challenger: str
) -> str:
    if challenger != "best":
        return challenger
    return result.preferred_family(register)


def _plots(
    directory: Path, candidates: dict[str, Candidate], result: TrainingResult, chosen: str
) -> list[Path]:
    slices = [
        ScoredSlice(
            name if name != "isolation_forest" else f"isolation_forest ({c.slice_name})",
            c.rows[LABEL_COLUMN].to_numpy(dtype=bool),
            c.scores,
            probabilities=name != "isolation_forest",
        )
        for name, c in candidates.items()
    ]
    shap = None
    bundle = candidates[chosen].bundle
    if isinstance(bundle.predictor, ContributionPredictor):
        rows = result.frames.test.iloc[:_SHAP_SAMPLE_ROWS]
        values = to_matrix(rows, bundle.feature_names)
        contributions = contribution_matrix(bundle.predictor, values)[:, :-1]
        shap = ShapSummary(chosen, bundle.feature_names, contributions, values)
    return save_plots(directory, slices, shap)


def _params_for(family: str, params: dict[str, object]) -> dict[str, object]:
    """The shared config plus this family's own section (not the other families')."""
    own = _FAMILY_SECTIONS[family]
    other = tuple(p for p in _FAMILY_SECTIONS.values() if p != own)
    return {k: v for k, v in params.items() if not k.startswith(other)} | {"family": family}


def _utc(epoch_ms: int) -> str:
    """Epoch ms as a readable UTC time, as reports show it (the split's params keep ms)."""
    import datetime as dt

    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M")

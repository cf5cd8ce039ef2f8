"""``fraudstream train`` and ``fraudstream promote``: models from history, through MLflow."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from services.cli.history import find_history_file, read_table

if TYPE_CHECKING:
    import pandas as pd

    from contracts.settings import MlflowSettings
    from models.promote import EvaluationWindow

__all__ = ["promote", "train"]

_HISTORY_HELP = (
    "Directory with transactions.(parquet|csv) and labels.(parquet|csv), "
    "as written by `fraudstream simulate --out` or `fraudstream replay --out`."
)


def load_history(directory: Path, *, rebuild: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The point-in-time feature frame (cached next to the history) and the labels."""
    from feature_store.offline import build_feature_frame

    tx_path = find_history_file(directory, "transactions")
    labels = read_table(find_history_file(directory, "labels"))
    cache = directory / "features.parquet"
    if cache.is_file() and not rebuild and cache.stat().st_mtime >= tx_path.stat().st_mtime:
        click.echo(f"features: reusing {cache}")
        return read_table(cache), labels
    frame = build_feature_frame(read_table(tx_path), labels)
    frame.to_parquet(cache, index=False)
    click.echo(f"features: {len(frame):,} rows -> {cache}")
    return frame, labels


@click.command()
@click.argument("history", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--test-days", default=7, show_default=True, help="Later slice to evaluate on.")
@click.option("--gap-days", default=7, show_default=True, help="Gap for label delay.")
@click.option("--block-fpr", default=0.001, show_default=True, help="Block threshold: FPR.")
@click.option("--flag-fpr", default=0.01, show_default=True, help="Flag threshold: FPR.")
@click.option(
    "--review-capacity", type=int, default=None, help="Cap flags at this many cases per day."
)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--challenger",
    type=click.Choice(["best", "xgboost", "lightgbm"]),
    default="best",
    show_default=True,
    help="Which family becomes the challenger (best = highest PR-AUC, but XGBoost, "
    "twice as fast to serve, unless LightGBM beats it by 0.005).",
)
@click.option("--rebuild-features", is_flag=True, help="Recompute the cached feature frame.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report and plots directory (default: HISTORY/report).")  # fmt: skip
def train(
    history: Path,
    test_days: int,
    gap_days: int,
    block_fpr: float,
    flag_fpr: float,
    review_capacity: int | None,
    seed: int,
    challenger: str,
    rebuild_features: bool,
    out: Path | None,
) -> None:
    """Train XGBoost, LightGBM, a logistic baseline and the cold-start Isolation Forest.

    Features come from the offline twin of the feature store (point in time),
    the split is by time (train on the past, a gap for label delay, test on
    the later slice), every model is logged to MLflow and the chosen challenger
    is registered with the alias `challenger`. Then run `fraudstream promote`.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from contracts.settings import load_settings
    from feature_store import COLD_START_FEATURES, FEATURE_NAMES
    from models.frame import FeatureSpec
    from models.split import SplitConfig
    from models.thresholds import ThresholdPolicy
    from models.train import TrainConfig
    from models.workflow import train_and_register

    settings = load_settings()
    frame, labels = load_history(history, rebuild=rebuild_features)
    config = TrainConfig(
        split=SplitConfig(test_days=test_days, gap_days=gap_days),
        thresholds=ThresholdPolicy(
            block_fpr=block_fpr, flag_fpr=flag_fpr, flag_daily_capacity=review_capacity
        ),
        seed=seed,
    )
    outcome = train_and_register(
        frame,
        labels,
        FeatureSpec.of(FEATURE_NAMES, COLD_START_FEATURES),
        settings.mlflow,
        config,
        out_dir=out or history / "report",
        challenger=challenger,  # type: ignore[arg-type]
    )
    click.echo(outcome.report_text)
    click.echo(
        f"\nchallenger: {outcome.challenger_family} v{outcome.challenger_version}; "
        f"cold start v{outcome.cold_start_version}"
    )
    click.echo(f"report and plots: {out or history / 'report'}")


@click.command()
@click.argument("history", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--days", default=7.0, show_default=True, help="Evaluate on the last DAYS.")
@click.option("--dry-run", is_flag=True, help="Compare and explain, move no alias.")
def promote(history: Path, days: float, dry_run: bool) -> None:
    """Move `champion` to the challenger if it is better on the same later slice (says why).

    The scorer and the cold-start model are judged one after the other, each on
    its own: a model without a `challenger` alias is skipped, and one that fails
    does not stop the other. The exit status is 1 when either failed.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from contracts.settings import load_settings
    from models.promote import EvaluationWindow

    settings = load_settings()
    frame, labels = load_history(history)
    window = EvaluationWindow.last_days(frame, days)
    outcomes = [
        _promote_one(settings.mlflow, frame, labels, window, cold_start=cold_start, dry_run=dry_run)
        for cold_start in (False, True)
    ]
    if "failed" in outcomes:
        raise click.exceptions.Exit(1)
    if set(outcomes) == {"skipped"}:
        raise click.ClickException("no `challenger` alias on either model: run `train` first")


def _promote_one(
    settings: MlflowSettings,
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    window: EvaluationWindow,
    *,
    cold_start: bool,
    dry_run: bool,
) -> str:
    """Judge one registered model and say what happened: "judged", "skipped" or "failed".

    Once the scorer is promoted its `challenger` alias is gone, so a rerun after
    the cold-start model failed must skip the scorer rather than stop at it.
    """
    from contracts.errors import FraudstreamError
    from models.promote import CHALLENGER
    from models.promote import promote as run_promotion
    from models.registry import ModelRegistry

    name = settings.cold_start_model if cold_start else settings.registered_model
    try:
        registry = ModelRegistry(settings)
        if registry.alias_version(name, CHALLENGER) is None:
            click.echo(f"{name}: skipped: no `{CHALLENGER}` alias (nothing to judge)")
            return "skipped"
        result = run_promotion(
            settings,
            frame,
            labels,
            window,
            cold_start=cold_start,
            name=name,
            dry_run=dry_run,
            registry=registry,
        )
    except FraudstreamError as exc:
        click.echo(f"{name}: FAILED: {exc}", err=True)
        return "failed"
    verdict = "PROMOTED" if result.promoted else "kept champion"
    click.echo(f"{result.name}: {verdict}: {result.reason}")
    return "judged"

"""The scorer tests' fixtures, loaded as a plugin by ``test_scorer_*.py``.

``trained_scorer`` (session) -> ``TrainedScorer``
    A small but real champion and cold-start model, trained once per session
    from a simulated history (1,000 customers x 28 days) through the offline
    feature store and ``models.workflow.train_and_register`` (XGBoost and
    LightGBM with few trees, the Isolation Forest), both with the alias
    ``champion``, in a session MLflow store on tmpfs when there is one.
``scorer_settings`` (function) -> ``Settings``
    The ``settings`` fixture (private topics and Redis prefix) with MLflow
    pointed at the session store, exported to the environment as well.

Test modules say ``pytest_plugins = ["tests.services.scorer_fixtures"]`` (a
plugin is loaded once, so the session fixture is trained once however many
modules use it) and import their helpers from ``tests.services.scoring.helpers``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.settings import MlflowSettings, Settings
from services.simulator import SimulatorConfig, simulate
from tests.services.scoring.helpers import TrainedScorer

__all__ = ["TRAINING_HISTORY", "scorer_settings_fixture", "trained_scorer_fixture"]

#: The simulated history the session's models learn from (seeded: same models every run).
TRAINING_HISTORY = SimulatorConfig(seed=5, customers=1000, days=28, fraud_rate=0.02)


@pytest.fixture(name="trained_scorer", scope="session")
def trained_scorer_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedScorer]:
    import pandas as pd

    from feature_store import COLD_START_FEATURES, FEATURE_NAMES
    from feature_store.offline import build_feature_frame
    from models.cold_start import ColdStartParams
    from models.frame import FeatureSpec
    from models.lgbm_model import LightGBMParams
    from models.registry import ModelRegistry
    from models.split import SplitConfig
    from models.train import TrainConfig
    from models.workflow import train_and_register
    from models.xgb_model import XGBoostParams
    from services.simulator.sinks.files import FileSink

    work = tmp_path_factory.mktemp("scorer-models")
    with FileSink(work / "history") as sink:
        for item in simulate(TRAINING_HISTORY):
            sink.write(item)
    transactions = pd.read_parquet(work / "history" / "transactions.parquet")
    labels = pd.read_parquet(work / "history" / "labels.parquet")
    frame = build_feature_frame(transactions, labels, progress=False)
    config = TrainConfig(
        split=SplitConfig(test_days=7.0, gap_days=3.0, maturity_days=7.0),
        families=("xgboost", "lightgbm"),
        xgboost=XGBoostParams(n_estimators=60, max_depth=4, learning_rate=0.1),
        lightgbm=LightGBMParams(n_estimators=60, num_leaves=15, learning_rate=0.1),
        cold_start_params=ColdStartParams(n_estimators=60),
        card_k=10,
    )
    with _TmpfsDir(tmp_path_factory) as root:
        mlflow = MlflowSettings(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
        outcome = train_and_register(
            frame,
            labels,
            FeatureSpec.of(FEATURE_NAMES, COLD_START_FEATURES),
            mlflow,
            config,
            out_dir=work / "report",
            challenger="xgboost",
            progress=False,
        )
        registry = ModelRegistry(mlflow)
        registry.set_alias(mlflow.registered_model, "champion", outcome.versions["xgboost"])
        cold_version = outcome.versions["isolation_forest"]
        registry.set_alias(mlflow.cold_start_model, "champion", cold_version)
        yield TrainedScorer(mlflow, dict(outcome.versions))


@pytest.fixture(name="scorer_settings")
def scorer_settings_fixture(
    settings: Settings, trained_scorer: TrainedScorer, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    scorer = settings.model_copy(update={"mlflow": trained_scorer.mlflow})
    monkeypatch.setenv("FRAUDSTREAM_MLFLOW", json.dumps(trained_scorer.mlflow.model_dump()))
    return scorer


class _TmpfsDir:
    """A private directory on /dev/shm when possible (SQLite fsyncs on a busy disk stall)."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.path: Path | None = None
        self.owned = False

    def __enter__(self) -> Path:
        shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private, unique directory
        if shm.is_dir() and os.access(shm, os.W_OK):
            self.path = Path(tempfile.mkdtemp(prefix="fraudstream-scorer-mlflow-", dir=shm))
            self.owned = True
        else:
            self.path = self.factory.mktemp("scorer-mlflow")
        return self.path

    def __exit__(self, *exc_info: object) -> None:
        if self.owned and self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)

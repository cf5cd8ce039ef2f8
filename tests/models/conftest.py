"""Fixtures for the models suite: synthetic frames, a small training config, a real MLflow store.

``synthetic`` (session) -> ``SyntheticData``: 8,000 rows over 60 days, ~3 % fraud.
``trained`` (session) -> ``TrainingResult`` of every family on ``synthetic``
    with ``helpers.small_train_config()``.
``mlflow_root`` (session) -> a directory holding one SQLite MLflow store (creating
    the schema takes seconds, so the session shares it). It lives on tmpfs
    (/dev/shm) when there is one: on the shared 2-core box a SQLite fsync on
    disk was once seen to stall for minutes under other people's I/O.
``mlflow_settings`` (function) -> ``MlflowSettings`` on that store with registered
    model names unique to the test, so tests never see each other's aliases.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.settings import MlflowSettings
from models.synthetic import SyntheticData, make_synthetic_data
from models.train import TrainingResult, train_candidates
from tests.conftest import memory_scratch_dir
from tests.models.helpers import small_train_config


@pytest.fixture(scope="session")
def synthetic() -> SyntheticData:
    return make_synthetic_data(rows=8000, cards=2000, days=60, seed=3)


@pytest.fixture(scope="session")
def trained(synthetic: SyntheticData) -> TrainingResult:
    return train_candidates(synthetic.frame, synthetic.labels, synthetic.spec, small_train_config())


@pytest.fixture(scope="session")
def mlflow_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with memory_scratch_dir(tmp_path_factory, "mlflow") as root:
        yield root


@pytest.fixture
def mlflow_settings(mlflow_root: Path) -> MlflowSettings:
    tag = uuid.uuid4().hex[:8]
    return MlflowSettings(
        tracking_uri=f"sqlite:///{mlflow_root / 'mlflow.db'}",
        registered_model=f"scorer-{tag}",
        cold_start_model=f"cold-start-{tag}",
    )

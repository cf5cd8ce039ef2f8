"""Fixtures for the LLM suite: the real base model, tiny real adapters, a real MLflow store.

``llm_base`` (session) -> Path
    The base model prepared by ``models.llm.base.prepare_base`` into the
    repository's git-ignored cache ``.fraudstream/llm/base`` (converted once,
    ~40 s; reused by every later session while its marker matches).
``llm_data`` (session) -> ``LlmDatasets``
    Small seeded datasets from the real builder (simulator + scoring pipeline).
``tiny_adapters`` (session) -> dict task -> adapter folder
    Both adapters trained for a few steps on ``llm_data``: real LoRA training,
    enough to follow the answer layout, not to be good.
``llm_engine`` (session) -> ``LlmEngine``
    The base with both tiny adapters, short generations (tests stay quick), in
    ``FRAUDSTREAM_LLM__DTYPE``'s type (float32: as on an AVX2-only CPU).
``llm_settings`` (function) -> ``Settings``
    ``settings`` (private topics, tmp state) with ``llm.base_dir`` at the
    cache, ``llm.adapters_dir`` and MLflow in the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from contracts.settings import MlflowSettings, Settings
from models.llm.adapters import Task
from services.llm_worker.dataset import DatasetConfig, LlmDatasets
from tests.conftest import memory_scratch_dir

ROOT = Path(__file__).resolve().parents[2]
BASE_CACHE = ROOT / ".fraudstream" / "llm" / "base"
#: Small but real: a simulated history through the real pipeline, a few messages per label.
SMALL_DATA = DatasetConfig(
    seed=5,
    customers=300,
    days=10,
    explain_train=24,
    explain_test=8,
    per_pattern=4,
    messages_train_per_label=12,
    messages_test_per_label=4,
)
TINY_STEPS = {"explain": 6, "analyse": 8}
TEST_MAX_NEW_TOKENS = 24


@pytest.fixture(scope="session", autouse=True)
def _offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_VERBOSITY", "error")
        yield


@pytest.fixture(scope="session")
def llm_base() -> Path:
    from models.llm.base import prepare_base

    return prepare_base(BASE_CACHE).path


@pytest.fixture(scope="session")
def llm_data() -> LlmDatasets:
    from services.llm_worker.dataset import build_datasets
    from services.llm_worker.rule_text import rule_descriptions
    from services.scoring.wiring import DEFAULT_RULES

    return build_datasets(SMALL_DATA, rule_descriptions(DEFAULT_RULES))


@pytest.fixture(scope="session")
def tiny_adapters(
    llm_base: Path, llm_data: LlmDatasets, tmp_path_factory: pytest.TempPathFactory
) -> dict[Task, Path]:
    from models.llm.train import TrainSpec, train_adapter
    from services.llm_worker.training import training_pairs

    root = tmp_path_factory.mktemp("tiny-adapters")
    adapters: dict[Task, Path] = {}
    for task in ("explain", "analyse"):
        spec = TrainSpec(steps=TINY_STEPS[task], batch_size=2, learning_rate=5e-4, seed=3)
        train_adapter(
            llm_base, task, training_pairs(task, llm_data, 3), spec, root / task, progress=False
        )
        adapters[task] = root / task
    return adapters


@pytest.fixture(scope="session")
def llm_engine(llm_base: Path, tiny_adapters: dict[Task, Path]):  # noqa: ANN201
    from models.llm.engine import LlmEngine

    # FRAUDSTREAM_LLM__DTYPE=float32 runs these tests in the type an AVX2-only CPU gets.
    precision = Settings().llm.dtype
    return LlmEngine.load(
        llm_base, tiny_adapters, max_new_tokens=TEST_MAX_NEW_TOKENS, precision=precision
    )


@pytest.fixture(scope="session")
def llm_mlflow_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with memory_scratch_dir(tmp_path_factory, "llm-mlflow") as root:
        yield root


@pytest.fixture
def llm_settings(settings: Settings, llm_base: Path, llm_mlflow_root: Path, tmp_path: Path):
    llm = settings.llm.model_copy(
        update={
            "base_dir": llm_base,
            "adapters_dir": tmp_path / "adapters",
            "explain_model": f"explain-{tmp_path.name}",
            "analyse_model": f"analyse-{tmp_path.name}",
            "max_new_tokens": TEST_MAX_NEW_TOKENS,
        }
    )
    mlflow = MlflowSettings(tracking_uri=f"sqlite:///{llm_mlflow_root / 'mlflow.db'}")
    return settings.model_copy(update={"llm": llm, "mlflow": mlflow})


def small_data(**changes: object) -> DatasetConfig:
    return replace(SMALL_DATA, **changes)  # type: ignore[arg-type]

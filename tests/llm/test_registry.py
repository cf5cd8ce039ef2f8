"""Train -> register in MLflow -> load by version (and by alias) round trip."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from models.exceptions import ModelNotFoundError
from models.llm.adapters import Task, read_meta, write_meta
from models.llm.engine import LlmEngine
from models.llm.exceptions import AdapterError
from models.llm.registry import AdapterRegistry
from models.llm.train import TrainSpec
from services.llm_worker import adapter_fetch
from services.llm_worker.adapter_fetch import AdapterFetch
from services.llm_worker.cpu_yield import CpuYield
from services.llm_worker.training import PRESETS, train_task
from services.llm_worker.wiring import WorkerConfig, load_engine

pytestmark = pytest.mark.slow


def test_train_register_and_load_by_version(llm_settings, llm_data, tiny_adapters, tmp_path):
    registry = AdapterRegistry(llm_settings.mlflow, llm_settings.llm)
    explain_copy = tmp_path / "explain"
    shutil.copytree(tiny_adapters["explain"], explain_copy)
    first = registry.publish("explain", explain_copy, metrics={"faithful": 0.5})
    assert (first.version, first.name) == ("1", llm_settings.llm.explain_model)

    plan = replace(PRESETS["quick"], analyse=TrainSpec(steps=2, batch_size=2, seed=4))
    outcome = train_task(llm_settings, "analyse", llm_data, plan, progress=False)
    assert outcome.published is not None and outcome.published.version == "1"
    assert 0.0 <= outcome.metrics["accuracy"] <= 1.0
    assert outcome.metrics["train_steps"] == 2.0
    assert (
        read_meta(outcome.adapter_dir, task="analyse").metrics["accuracy"]
        == (outcome.metrics["accuracy"])
    )

    # A second explain version takes the alias; version 1 stays loadable by number.
    second = registry.publish("explain", tiny_adapters["explain"], metrics={"faithful": 0.9})
    assert second.version == "2"
    assert registry.resolve("explain", "champion") == "2"
    shutil.rmtree(llm_settings.llm.adapters_dir)  # force a download from the registry
    # Two workers starting together download the same version into one cache folder.
    with ThreadPoolExecutor(max_workers=2) as pool:
        both = list(pool.map(lambda _: registry.fetch("explain", "1"), range(2)))
    fetched = both[0]
    assert both[1] == fetched
    assert read_meta(fetched, task="explain").metrics == {"faithful": 0.5}
    assert read_meta(fetched).version == "1"

    llm = llm_settings.llm.model_copy(update={"yield_busy_cores": 1.25})
    engine = load_engine(
        llm_settings.model_copy(update={"llm": llm}),
        WorkerConfig(explain_ref="1", analyse_ref="champion"),
    )
    assert isinstance(engine, LlmEngine)
    assert engine.load_report.adapters == {"explain": "1", "analyse": "1"}
    # The worker's model steps aside, at the threshold the settings give.
    assert isinstance(engine.between_steps, CpuYield)
    assert engine.between_steps.busy_cores == 1.25
    engine.between_steps = None  # (here the registry is under test, not the machine's load)
    assert len(engine.explain(llm_data.explain_test[:1])) == 1


def test_unknown_versions_and_aliases_are_clear_errors(llm_settings, tiny_adapters, tmp_path):
    registry = AdapterRegistry(llm_settings.mlflow, llm_settings.llm)
    with pytest.raises(ModelNotFoundError):
        registry.fetch("analyse", "champion")
    copy = tmp_path / "analyse"
    shutil.copytree(tiny_adapters["analyse"], copy)
    registry.publish("analyse", copy, metrics={}, alias=None)
    with pytest.raises(ModelNotFoundError):
        registry.fetch("analyse", "7")
    # Through the worker, whose fetch runs in another process: the same error, not a crash.
    with pytest.raises(ModelNotFoundError, match="7") as raised:
        load_engine(llm_settings, WorkerConfig(explain_ref="7", analyse_ref="7"))
    assert "version 7" in raised.value.action  # its fields came back across the process


def test_the_worker_fetches_in_the_process_when_no_other_can_start(
    llm_settings, tiny_adapters, tmp_path, monkeypatch
):
    registry = AdapterRegistry(llm_settings.mlflow, llm_settings.llm)
    for task in ("explain", "analyse"):
        copy = tmp_path / task
        shutil.copytree(tiny_adapters[task], copy)
        registry.publish(task, copy, metrics={})

    def no_processes(*args, **kwargs):
        raise OSError("no processes here")

    monkeypatch.setattr(adapter_fetch, "ProcessPoolExecutor", no_processes)
    with AdapterFetch(llm_settings.mlflow, llm_settings.llm, {"explain": "1"}) as fetch:
        folders = fetch.result()
    assert read_meta(folders["explain"], task="explain").version == "1"


def test_the_engine_checks_adapters_it_is_handed_after_the_base_loads(llm_base, tiny_adapters):
    asked = []

    def late() -> dict[Task, Path]:
        asked.append(True)
        return {"explain": tiny_adapters["analyse"]}  # the wrong task's adapter

    with pytest.raises(AdapterError, match="explain adapter"):
        LlmEngine.load(llm_base, late)
    assert asked == [True]


def test_an_adapter_for_another_base_or_prompt_is_refused(llm_base, tiny_adapters, tmp_path):
    for field, value, message in (
        ("base_sha256", "0" * 64, "another base model"),
        ("prompt_version", "1999.01-1", "prompt layout"),
    ):
        copy = tmp_path / field
        shutil.copytree(tiny_adapters["analyse"], copy)
        meta = read_meta(copy)
        setattr(meta, field, value)
        write_meta(copy, meta)
        with pytest.raises(AdapterError, match=message):
            LlmEngine.load(llm_base, {"analyse": copy})
    with pytest.raises(AdapterError, match="explain adapter"):
        LlmEngine.load(llm_base, {"explain": tiny_adapters["analyse"]})

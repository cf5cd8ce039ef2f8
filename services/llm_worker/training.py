"""``fraudstream llm train`` as functions: data -> adapter -> held-out metrics -> registry.

For each task: build (or reuse) the seeded datasets, train the adapter
(``models.llm.train``), evaluate it on held-out records, and publish it to
MLflow with its metrics as a new version of the task's registered model,
moving the alias (``champion`` by default) to it. The datasets are written as
JSON lines under ``<data_dir>/llm/seed-<seed>-<config digest>/`` so ``llm eval`` scores the
very same held-out records.
"""

from __future__ import annotations

import gc
import hashlib
import random
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from contracts.settings import LlmSettings, Settings
from models.llm.adapters import Task
from models.llm.analysis import MessageExample, analyse_answer
from models.llm.base import prepare_base
from models.llm.engine import LlmEngine
from models.llm.evaluate import evaluate_analyse, evaluate_explain
from models.llm.facts import CaseFacts
from models.llm.prompts import analyse_prompt, explain_prompt, sanitise_customer_text
from models.llm.registry import AdapterRegistry, PublishedAdapter, replace_dir
from models.llm.train import TrainReport, TrainSpec, train_adapter
from models.llm.wording import reference_explanation
from services.llm_worker.dataset import (
    DatasetConfig,
    LlmDatasets,
    build_datasets,
    read_records,
    write_records,
)
from services.llm_worker.rule_text import rule_descriptions
from services.scoring.wiring import DEFAULT_RULES

__all__ = [
    "PRESETS",
    "TaskOutcome",
    "TrainPlan",
    "dataset_dir",
    "load_or_build_datasets",
    "train_task",
    "training_pairs",
]


@dataclass(frozen=True)
class TrainPlan:
    explain: TrainSpec
    analyse: TrainSpec
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    #: Held-out cases the explain adapter is scored on right after training.
    eval_cases: int = 40

    def spec(self, task: Task) -> TrainSpec:
        return self.explain if task == "explain" else self.analyse

    def with_seed(self, seed: int) -> TrainPlan:
        return TrainPlan(
            explain=replace(self.explain, seed=seed),
            analyse=replace(self.analyse, seed=seed),
            dataset=replace(self.dataset, seed=seed),
            eval_cases=self.eval_cases,
        )


#: Bump when the builder's output changes for the same config (cached files are keyed by it).
_BUILDER_VERSION = 2

#: ``quick``: the demo's preset (minutes on 2 CPU cores); ``full``: better adapters.
PRESETS: dict[str, TrainPlan] = {
    "quick": TrainPlan(
        explain=TrainSpec(steps=48, batch_size=4, learning_rate=3e-4),
        analyse=TrainSpec(steps=100, batch_size=4, learning_rate=4e-4),
        eval_cases=16,
    ),
    "full": TrainPlan(
        explain=TrainSpec(steps=120, batch_size=8, learning_rate=2e-4),
        analyse=TrainSpec(steps=150, batch_size=8, learning_rate=2e-4),
        eval_cases=40,
    ),
}


@dataclass(frozen=True)
class TaskOutcome:
    task: Task
    report: TrainReport
    metrics: dict[str, float]
    published: PublishedAdapter | None
    adapter_dir: Path


def dataset_dir(settings: Settings, config: DatasetConfig) -> Path:
    """``<data_dir>/llm/seed-<seed>-<digest>``: another config (or builder) never reuses it."""
    digest = hashlib.sha256(f"{_BUILDER_VERSION}:{config!r}".encode()).hexdigest()[:8]
    return settings.data_dir / "llm" / f"seed-{config.seed}-{digest}"


def load_or_build_datasets(settings: Settings, config: DatasetConfig) -> LlmDatasets:
    """The seeded datasets from ``dataset_dir`` when written before, else built and written."""
    folder = dataset_dir(settings, config)
    files = {
        name: folder / f"{name}.jsonl"
        for name in ("explain-train", "explain-test", "analyse-train", "analyse-test")
    }
    if all(path.is_file() for path in files.values()):
        return LlmDatasets(
            explain_train=read_records(files["explain-train"], CaseFacts),
            explain_test=read_records(files["explain-test"], CaseFacts),
            analyse_train=read_records(files["analyse-train"], MessageExample),
            analyse_test=read_records(files["analyse-test"], MessageExample),
        )
    data = build_datasets(config, rule_descriptions(DEFAULT_RULES))
    write_records(files["explain-train"], data.explain_train)
    write_records(files["explain-test"], data.explain_test)
    write_records(files["analyse-train"], data.analyse_train)
    write_records(files["analyse-test"], data.analyse_test)
    return data


def training_pairs(task: Task, data: LlmDatasets, seed: int) -> list[tuple[str, str]]:
    """(prompt, answer) pairs; explanation wording is drawn from a seeded generator."""
    if task == "explain":
        rng = random.Random(seed)  # noqa: S311 - seeded wording, not security
        return [
            (explain_prompt(c), " " + reference_explanation(c, rng)) for c in data.explain_train
        ]
    return [
        (analyse_prompt(sanitise_customer_text(m.text)), analyse_answer(m))
        for m in data.analyse_train
    ]


def train_task(
    settings: Settings,
    task: Task,
    data: LlmDatasets,
    plan: TrainPlan,
    *,
    alias: str | None = "champion",
    register: bool = True,
    progress: bool = True,
) -> TaskOutcome:
    """Train, evaluate and (unless ``register`` is off) publish one task's adapter."""
    llm = settings.llm
    prepare_base(llm.base_dir)
    spec = plan.spec(task)
    llm.adapters_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".train-{task}-", dir=llm.adapters_dir) as scratch:
        out = Path(scratch) / "adapter"
        report = train_adapter(
            llm.base_dir,
            task,
            training_pairs(task, data, spec.seed),
            spec,
            out,
            progress=progress,
            precision=llm.dtype,
        )
        gc.collect()  # the training copy of the model goes before the evaluated one loads
        metrics = _evaluate(llm.base_dir, task, out, data, plan, llm)
        metrics.update(
            train_seconds=report.seconds,
            train_steps=float(report.steps),
            final_loss=report.final_loss,
            adapter_bytes=float(report.adapter_bytes),
        )
        if register:
            published = AdapterRegistry(settings.mlflow, llm).publish(
                task, out, metrics=metrics, alias=alias
            )
            return TaskOutcome(task, report, metrics, published, published.path)
        local = llm.adapters_dir / task / "local"
        replace_dir(out, local)
        return TaskOutcome(task, report, metrics, None, local)


def _evaluate(
    base_dir: Path,
    task: Task,
    adapter_dir: Path,
    data: LlmDatasets,
    plan: TrainPlan,
    llm: LlmSettings,
) -> dict[str, float]:
    engine = LlmEngine.load(
        base_dir, {task: adapter_dir}, max_new_tokens=llm.max_new_tokens, precision=llm.dtype
    )
    if task == "explain":
        cases = data.explain_test[: plan.eval_cases]
        # As the worker decodes (constrained), and what the adapter writes on its own.
        metrics = evaluate_explain(engine, cases, constrained=True).as_metrics("")
        free = evaluate_explain(engine, cases, constrained=False, restricted=False)
        return {**metrics, "free_faithful": free.faithful, "free_format_ok": free.format_ok}
    return evaluate_analyse(engine, data.analyse_test).as_metrics("")

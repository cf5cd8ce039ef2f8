"""``fraudstream llm eval``: both adapters and the prompted base model on the held-out data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from contracts.settings import Settings
from models.llm.adapters import TASKS, Task
from models.llm.base import prepare_base
from models.llm.engine import LlmEngine
from models.llm.evaluate import evaluate_analyse, evaluate_explain
from models.llm.registry import AdapterRegistry
from services.bench.stats import table
from services.llm_worker.dataset import DatasetConfig
from services.llm_worker.training import load_or_build_datasets

__all__ = ["EvaluationReport", "run_evaluation"]


@dataclass(frozen=True)
class EvaluationReport:
    text: str
    data: dict[str, Any]


def run_evaluation(
    settings: Settings,
    *,
    explain_ref: str | None = None,
    analyse_ref: str | None = None,
    seed: int = 11,
    cases: int = 40,
    messages: int = 120,
    with_base: bool = True,
    with_free: bool = True,
) -> EvaluationReport:
    """Score the adapters (and the base model) on held-out data.

    Explanations are decoded as the worker decodes them (under the citation
    constraint, see ``models.llm.constrained``); ``with_free`` adds the
    adapter under free greedy decoding, which shows what the model itself has
    learnt and how much the constraint had to correct.
    """
    llm = settings.llm
    refs: dict[Task, str] = {
        "explain": explain_ref or llm.adapter_alias,
        "analyse": analyse_ref or llm.adapter_alias,
    }
    registry = AdapterRegistry(settings.mlflow, llm)
    versions = {task: registry.resolve(task, refs[task]) for task in TASKS}
    dirs = {task: registry.fetch(task, versions[task]) for task in TASKS}
    prepare_base(llm.base_dir)
    engine = LlmEngine.load(
        llm.base_dir, dirs, max_new_tokens=llm.max_new_tokens, precision=llm.dtype
    )
    data = load_or_build_datasets(settings, replace(DatasetConfig(), seed=seed))
    held_cases = data.explain_test[:cases]
    held_messages = data.analyse_test[:messages]

    explain = {"adapter": evaluate_explain(engine, held_cases, constrained=True)}
    refused = engine.refused_tokens
    if with_free:
        explain["adapter, free decoding"] = evaluate_explain(
            engine, held_cases, constrained=False, restricted=False
        )
    analyse = {"adapter": evaluate_analyse(engine, held_messages)}
    if with_base:
        explain["base"] = evaluate_explain(engine, held_cases, use_adapter=False, constrained=True)
        analyse["base"] = evaluate_analyse(engine, held_messages, use_adapter=False)

    rows: list[list[object]] = []
    for who, m in explain.items():
        rows.append([f"explain {who}", f"{m.faithful:.0%}", f"{m.format_ok:.0%}",
                     f"{m.chars_mean:.0f}", f"{m.tokens_mean:.0f}", f"{m.seconds_per_case:.1f}s",
                     "", "", ""])  # fmt: skip
    for who, a in analyse.items():
        rows.append([f"analyse {who}", "", "", "", "", "", f"{a.accuracy:.0%}",
                     f"{a.macro_f1:.2f}", f"{a.injection_stable:.0%}"])  # fmt: skip
    header = ["model", "faithful", "format", "chars", "tokens", "s/case", "accuracy",
              "macro-F1", "inj. stable"]  # fmt: skip
    lines = [
        f"held-out: {len(held_cases)} cases, {len(held_messages)} messages (seed {seed}); "
        f"adapters explain v{versions['explain']}, analyse v{versions['analyse']}; "
        f"explanations under the citation constraint unless marked free "
        f"({refused} candidate tokens refused for the adapter)",
        table(rows, header),
    ]
    for who, m in explain.items():
        if m.failures:
            lines.append(f"\nexplain {who}: failures (first few):")
            lines += [f"- {text}\n  -> {'; '.join(problems)}" for text, problems in m.failures]
    return EvaluationReport(
        text="\n".join(lines),
        data={
            "seed": seed,
            "versions": versions,
            "explain": {who: asdict(m) for who, m in explain.items()},
            "constraint_refused_tokens": refused,
            "analyse": {who: asdict(a) for who, a in analyse.items()},
        },
    )

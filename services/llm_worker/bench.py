"""``fraudstream llm bench``: what the worker's model costs on this machine.

Figures printed, never asserted: engine load time (base + both adapters),
resident memory after load, and for each model batch size the latency of one
explanation (from the start of its batch to its text, p50 / p99), throughput
in explanations and tokens per second, and the share that passed the
faithfulness check; then the same for message analyses (label, summary and
signals), with the share labelled as the held-out record is. Cases and
messages are the held-out records (seeded).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from contracts.settings import Settings
from models.llm.analysis import MessageExample
from models.llm.facts import CaseFacts
from models.llm.faithfulness import check_faithfulness, check_format
from models.llm.prompts import sanitise_customer_text
from services.bench.stats import percentiles_ms, table
from services.llm_worker.dataset import DatasetConfig
from services.llm_worker.training import load_or_build_datasets
from services.llm_worker.wiring import WorkerConfig, load_engine

if TYPE_CHECKING:
    from models.llm.engine import LlmEngine

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["analyse_table", "explain_table", "resident_mb", "run_llm_bench"]


def resident_mb() -> float:
    """This process's resident memory (VmRSS), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_llm_bench(
    settings: Settings, *, sizes: Sequence[int], cases: int, messages: int = 12, threads: int = 1
) -> str:
    import torch

    from models.llm.engine import LlmEngine

    torch.set_num_threads(threads)
    before = resident_mb()
    started = time.perf_counter()
    engine = load_engine(settings, WorkerConfig(threads=threads))
    load_s = time.perf_counter() - started
    after = resident_mb()
    assert isinstance(engine, LlmEngine)  # noqa: S101 - load_engine builds the real engine
    data = load_or_build_datasets(settings, DatasetConfig())
    versions = ", ".join(f"{k} v{v}" for k, v in engine.load_report.adapters.items())
    lines = [
        f"engine: load {load_s:.1f}s (adapters {versions}), RSS {after:.0f} MB "
        f"(+{after - before:.0f} MB), torch threads {threads}"
    ]
    if cases:
        lines += ["", "explanations", explain_table(engine, data.explain_test[:cases], sizes)]
    if messages:
        lines += ["", "message analyses", analyse_table(engine, data.analyse_test[:messages],
                                                         sizes)]  # fmt: skip
    return "\n".join(lines)


def explain_table(engine: LlmEngine, pool: Sequence[CaseFacts], sizes: Sequence[int]) -> str:
    engine.explain(pool[:1])  # warm-up: first call pays one-time allocations and the merge
    rows = []
    for size in sizes:
        texts, p, wall = _timed_batches(engine.explain, pool, size)
        tokens = faithful = 0
        for text, facts in zip(texts, pool, strict=True):
            tokens += len(engine.tokenizer(text, add_special_tokens=False)["input_ids"])
            faithful += check_faithfulness(text, facts).faithful and not check_format(text, facts)
        rows.append([size, len(pool), f"{p['p50'] / 1000:.2f}", f"{p['p99'] / 1000:.2f}",
                     f"{len(pool) / wall:.2f}", f"{tokens / wall:.1f}",
                     f"{faithful / max(len(pool), 1):.0%}"])  # fmt: skip
    return table(rows, ["batch", "cases", "p50 s", "p99 s", "expl/s", "tokens/s",
                        "faithful+format"])  # fmt: skip


def analyse_table(engine: LlmEngine, pool: Sequence[MessageExample], sizes: Sequence[int]) -> str:
    texts = [sanitise_customer_text(example.text) for example in pool]
    engine.analyse(texts[:1])  # warm-up: the analyse adapter is merged
    rows = []
    for size in sizes:
        readings, p, wall = _timed_batches(engine.analyse, texts, size)
        correct = sum(r.label == e.label for r, e in zip(readings, pool, strict=True))
        rows.append([size, len(pool), f"{p['p50'] / 1000:.2f}", f"{p['p99'] / 1000:.2f}",
                     f"{len(pool) / wall:.2f}", f"{correct / max(len(pool), 1):.0%}"])  # fmt: skip
    return table(rows, ["batch", "messages", "p50 s", "p99 s", "msg/s", "label as held out"])


def _timed_batches(
    run: Callable[[Sequence[T]], list[R]], items: Sequence[T], size: int
) -> tuple[list[R], dict[str, float], float]:
    """``run`` over ``items`` in batches of ``size``: the results in order, each item's
    latency percentiles (ms, from the start of its batch to its answer) and the wall time (s)."""
    results: list[R] = []
    latencies: list[float] = []
    started = time.perf_counter()
    for start in range(0, len(items), size):
        t0 = time.perf_counter()
        answers = run(items[start : start + size])
        latencies += [time.perf_counter() - t0] * len(answers)
        results += answers
    return results, percentiles_ms(latencies), time.perf_counter() - started

"""The LLM worker beside the scorer: ``fraudstream bench e2e --llm-worker``.

The worker's target is that the scorer's own latency is unchanged while the
worker runs beside it. To measure that, each offered rate runs in rounds
(``services.bench.e2e``): each round starts a fresh scorer on fresh topics,
then ``fraudstream run llm-worker`` beside it, as deployed (its own process
and session, ``SCHED_IDLE``, one torch thread), and runs one phase with the
scorer alone and one beside the worker, in alternating order from round to
round. While the scorer is alone the worker is frozen (``SIGSTOP`` to its
process group: no CPU, no Kafka traffic, its memory still resident); beside
it, it runs (``SIGCONT``) with the cases flagged so far as its backlog. Its CPU
and its explanations (model or template) are counted per phase.

Why fresh topics per round and alternating order: the embedded broker gets
slower as a topic's log grows (the same 1,000 tx/s phase twice in a row on
one set of topics: e2e p99 194 then 771 ms, with no worker at all; seven
phases in a row ended at 91 tx/s), so a later phase looks worse for that
alone. The verdict pools every round's decisions: the in-process p99 of all
the decisions made beside the worker against that of all those made alone.

With ``--control`` a do-nothing process (``CONTROL_ARGV``) takes the worker's
place, in its own session, started, frozen and thawed the same way: what the
ratio shows then is the benchmark's own noise, the figure to hold the
worker's ratio against.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from contracts.settings import KafkaSettings, Settings
from services.bench.host import cpu_seconds
from services.bench.stats import percentiles_ms, table
from services.exceptions import ServiceError
from services.kafka.clients import OFF_HOT_PATH, make_consumer

__all__ = [
    "ALONE",
    "BESIDE",
    "CONTROL_ARGV",
    "LlmWorkerBeside",
    "alone_first",
    "beside_lines",
    "beside_target",
    "require_adapters",
]

#: The app name of the phases run with the worker beside the scorer.
BESIDE = "scorer+llm"
#: The app name of a round's phase with the scorer alone (the worker frozen).
ALONE = "scorer alone"
_READY_LINE = "llm worker ready"
#: The control: says it is ready and then does nothing until it is stopped.
CONTROL_ARGV = [
    sys.executable,
    "-c",
    f"import time; print({_READY_LINE!r}, flush=True); time.sleep(86400)",
]
#: "unchanged" as printed: the scorer's p99 beside the worker within this ratio of alone.
_UNCHANGED_RATIO = 1.10


def require_adapters(settings: Settings) -> None:
    """Fail before any phase runs when the registry has no adapters for the worker."""
    from models.exceptions import ModelError
    from models.llm.adapters import TASKS
    from models.llm.registry import AdapterRegistry

    registry = AdapterRegistry(settings.mlflow, settings.llm)
    alias = settings.llm.adapter_alias
    for task in TASKS:
        try:
            registry.resolve(task, alias)
        except ModelError as exc:  # MLflow's errors arrive translated
            raise ServiceError(
                f"--llm-worker needs the {task} adapter ({alias!r}) in the registry: {exc}; "
                "run `fraudstream llm train --quick` first"
            ) from exc


class _Explained(msgspec.Struct):
    source: str = "?"


class _ExplanationCounter(threading.Thread):
    """Counts the explanations written to ``topic`` by their source, since the last reset."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        super().__init__(name=f"count-{topic}", daemon=True)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._halt = threading.Event()
        self._decoder = msgspec.json.Decoder(_Explained)
        self._consumer = make_consumer(
            kafka, f"bench-explanations-{uuid.uuid4().hex[:8]}", **OFF_HOT_PATH
        )
        partitions = range(kafka.partitions)
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def take(self) -> dict[str, int]:
        """The counts since the last ``take`` (or the start), and start counting afresh."""
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        return counts

    def run(self) -> None:
        while not self._halt.is_set():
            for msg in self._consumer.consume(num_messages=500, timeout=0.1):
                if msg.error() is not None:
                    continue
                try:
                    source = self._decoder.decode(msg.value() or b"{}").source
                except msgspec.DecodeError:
                    source = "unreadable"
                with self._lock:
                    self._counts[source] += 1
        self._consumer.close()

    def close(self) -> None:
        self._halt.set()
        self.join(10)


class LlmWorkerBeside:
    """``fraudstream run llm-worker`` as a child process: started, frozen, thawed, stopped."""

    def __init__(
        self, argv: list[str], env: dict[str, str], log: Path, kafka: KafkaSettings
    ) -> None:
        self._argv, self._env, self.log = argv, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self._counter = _ExplanationCounter(kafka, kafka.topics.explanations)
        self._counter.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, ready_within_s: float = 180.0) -> float:
        """Start the worker and wait until it says it is ready; returns the seconds that took."""
        started = time.monotonic()
        # The log is appended to across phases: only this start's lines say it is ready.
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self._argv,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own session, as deployed: it then lowers its own autogroup.
                start_new_session=True,
            )
        while _READY_LINE not in self._since(offset):
            if self.process.poll() is not None:
                raise ServiceError(
                    f"the LLM worker exited ({self.process.returncode}):\n{self._tail()}"
                )
            if time.monotonic() - started > ready_within_s:
                self.stop()
                raise ServiceError(
                    f"the LLM worker was not ready in {ready_within_s:g} s:\n{self._tail()}"
                )
            time.sleep(0.2)
        self._counter.take()  # what it wrote before this phase is not the phase's
        return time.monotonic() - started

    def explanations(self) -> dict[str, int]:
        """Explanations written since the worker became ready (or since the last call)."""
        time.sleep(0.5)  # the reader is a fetch behind
        return self._counter.take()

    def settle(self, max_s: float = 60.0, every_s: float = 1.0, quiet_cpu_s: float = 0.05) -> float:
        """Wait until the worker idles (under ``quiet_cpu_s`` of CPU in ``every_s``);
        returns the seconds that took.

        A fresh worker answers the cases already on its topic (from the scorer's
        warm-up), and its first requests initialise what loads lazily: a
        one-time cost of a worker's start that would otherwise land in the
        first phase it is thawed for.
        """
        started = time.monotonic()
        pid = self.pid
        last = cpu_seconds(pid)
        while time.monotonic() - started < max_s:
            time.sleep(every_s)
            now = cpu_seconds(pid)
            if now is None or last is None or now - last < quiet_cpu_s:
                break
            last = now
        return time.monotonic() - started

    def freeze(self) -> None:
        """Stop the worker where it is (SIGSTOP to its session's group): no CPU, no traffic."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen worker go on; what it writes from here is counted afresh."""
        self._counter.take()
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            # Its own session (start_new_session): its pid is its process group's id.
            with contextlib.suppress(ProcessLookupError):  # it exited just now
                os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        self._signal(signal.SIGCONT)  # a frozen process would hold SIGTERM pending
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # SIGTERM: the worker finishes its batch and commits
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._counter.close()

    def _since(self, offset: int) -> str:
        with self.log.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def beside_lines(phases: list[Any], *, control: bool = False) -> list[str]:
    """The scorer alone vs beside the worker: a row per round, then the rounds pooled.

    ``phases`` are ``PhaseResult``s (typed loosely: this module sits below e2e);
    ``control``: a do-nothing process ran in the worker's place.
    """
    rows, pooled_rows, stage_rows = [], [], []
    for rate, rounds in _rounds(phases).items():
        for n, (alone, beside) in rounds:
            made = beside.explanations or {}
            pair = (alone, beside)
            rows.append([
                rate or "max",
                n,
                "alone" if alone_first(n) else "beside",
                _joined(p.latency_ms["p50"] for p in pair),
                _joined(p.latency_ms["p99"] for p in pair),
                _ratio(beside.latency_ms["p99"], alone.latency_ms["p99"]),
                _joined(_in_process(p, "p50") for p in pair),
                _joined(_in_process(p, "p99") for p in pair),
                _ratio(_in_process(beside, "p99"), _in_process(alone, "p99")),
                _joined((p.throughput for p in pair), digits=0),
                "n/a" if beside.worker_ready_s is None else f"{beside.worker_ready_s:.1f}",
                f"{_cpu(beside, 'llm')} / {_cpu(alone, 'llm')}",
                f"{made.get('model', 0)} / {made.get('template', 0)}",
            ])  # fmt: skip
        alone_all, beside_all = _sides(rounds)
        a, b = _pooled_ms(alone_all), _pooled_ms(beside_all)
        pooled_rows.append([
            rate or "max",
            len(rounds),
            _joined((a["p50"], a["p99"])),
            _joined((b["p50"], b["p99"])),
            _ratio(b["p99"], a["p99"]),
        ])  # fmt: skip
        for stage in alone_all[0].stage_s:  # the stages the decisions carry, in order
            a, b = _pooled_ms(alone_all, stage), _pooled_ms(beside_all, stage)
            stage_rows.append([rate or "max", stage, a["p50"], b["p50"], a["p99"], b["p99"],
                               _ratio(b["p99"], a["p99"])])  # fmt: skip
    if not rows:
        return []
    header = ["offered tx/s", "round", "first", "e2e p50 ms", "e2e p99 ms", "ratio",
              "in-process p50 ms", "in-process p99 ms", "ratio", "sustained tx/s",
              "worker ready s", "worker CPU", "explained: model / template"]  # fmt: skip
    beside = (
        [
            "CONTROL: a do-nothing process in the worker's place (its own session, started,",
            "frozen and thawed the same way); the ratios are the benchmark's own noise:",
        ]
        if control
        else [
            "the worker as deployed: its own session, SCHED_IDLE, one torch thread, pausing",
            "while the machine is busy, the cases flagged so far as its backlog:",
        ]
    )
    return [
        "scorer alone / beside the LLM worker, per round (each round a fresh scorer on fresh",
        "topics and the worker started beside it, frozen with SIGSTOP while the scorer is",
        "alone; the rounds alternate which phase runs first, as the second phase of a round",
        "is the slower one, worker or not; ratio = beside / alone):",
        *beside,
        table(rows, header),
        "",
        "every round pooled (percentiles over all the decisions made alone, and beside):",
        table(
            pooled_rows,
            [
                "offered tx/s",
                "rounds",
                "alone e2e p50 / p99 ms",
                "beside e2e p50 / p99 ms",
                "ratio",
            ],
        ),  # fmt: skip
        table(
            stage_rows,
            [
                "offered tx/s",
                "in-process stage",
                "alone p50",
                "beside p50",
                "alone p99",
                "beside p99",
                "ratio",
            ],
        ),  # fmt: skip
    ]


def beside_target(phases: list[Any], *, control: bool = False) -> list[str]:
    """The target line: in-process p99 at 1,000 tx/s beside the worker vs alone, pooled."""
    rounds = _rounds(phases).get(1000)
    if not rounds:
        return []
    alone_all, beside_all = _sides(rounds)
    b, alone = (_pooled_ms(x, "total")["p99"] for x in (beside_all, alone_all))
    verdict = "met" if b <= alone * _UNCHANGED_RATIO else "NOT met"
    if control:
        verdict += "; CONTROL run: no worker, so this is the benchmark's noise"
    ratios = sorted(
        _in_process(beside, "p99") / _in_process(alone, "p99") for _, (alone, beside) in rounds
    )
    return [
        f"  the scorer's latency unchanged beside the LLM worker (in-process p99 at 1,000 tx/s, "
        f"{len(rounds)} round(s) pooled, within {_UNCHANGED_RATIO - 1:.0%} of alone): "
        f"{b:.2f} vs {alone:.2f} ms ({verdict}); per round "
        + ", ".join(f"{r:.2f}x" for r in ratios)
        + f" (median {statistics.median(ratios):.2f}x)"
    ]


def alone_first(n: int) -> bool:
    """Whether round ``n`` (from 1) runs the scorer alone first: the odd ones do."""
    return n % 2 == 1


def _rounds(phases: list[Any]) -> dict[int | None, list[tuple[int, tuple[Any, Any]]]]:
    """Rate -> its complete rounds in order: (round, (alone, beside))."""
    found: dict[tuple[int | None, int], dict[str, Any]] = {}
    for p in phases:
        if p.app in (ALONE, BESIDE) and p.round is not None:
            found.setdefault((p.rate, p.round), {})[p.app] = p
    out: dict[int | None, list[tuple[int, tuple[Any, Any]]]] = {}
    for (rate, n), pair in found.items():
        if ALONE in pair and BESIDE in pair:
            out.setdefault(rate, []).append((n, (pair[ALONE], pair[BESIDE])))
    return out


def _sides(rounds: list[tuple[int, tuple[Any, Any]]]) -> tuple[list[Any], list[Any]]:
    """The rounds' phases alone, and beside the worker."""
    return [a for _, (a, _) in rounds], [b for _, (_, b) in rounds]


def _pooled_ms(phases: list[Any], stage: str | None = None) -> dict[str, float]:
    """Percentiles over every sample of ``phases``: end to end, or of an in-process ``stage``."""
    return percentiles_ms(
        [x for p in phases for x in (p.e2e_s if stage is None else p.stage_s.get(stage, []))]
    )


def _cpu(phase: Any, process: str) -> str:
    value = phase.cpu_pct.get(process)
    return "n/a" if value is None else f"{value:.0f}%"


def _in_process(phase: Any, quantile: str) -> float:
    return float(phase.stages_ms.get("total", {}).get(quantile, float("nan")))


def _joined(values: Any, digits: int = 1) -> str:
    return " / ".join(f"{v:,.{digits}f}" for v in values)


def _ratio(value: float, base: float) -> str:
    if base > 0 and value == value and base == base:  # NaN compares unequal to itself
        return f"{value / base:.2f}x"
    return "n/a"

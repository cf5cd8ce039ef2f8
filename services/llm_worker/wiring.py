"""Build a running LLM worker from settings: the only place that connects its parts.

Keeping the scorer's latency unchanged is done here, on purpose:

* the worker is its own process, in its own consumer group;
* it runs under the ``SCHED_IDLE`` policy where Linux allows it (it gets a
  CPU only when nothing else wants one), else at the lowest ``nice``, and
  when it leads its own session its autogroup goes to nice 19
  (``services.llm_worker.priority``), so under contention the scorer, the
  broker and Redis win (measured with ``fraudstream bench e2e --llm-worker``:
  see the README);
* torch uses ``threads`` intra-op threads (1 by default): on a 2-core machine
  the scorer keeps a core;
* the model pauses between steps while other processes wait for a CPU
  (``services.llm_worker.cpu_yield``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from contracts.codec import decode
from contracts.errors import ContractError
from contracts.events import Decision, UserMessage
from contracts.settings import Settings
from models.llm.adapters import TASKS, Task
from services.kafka.clients import OFF_HOT_PATH, make_consumer, make_producer
from services.llm_worker import metrics
from services.llm_worker.adapter_fetch import AdapterFetch
from services.llm_worker.cpu_yield import CpuYield
from services.llm_worker.handler import LlmHandler
from services.llm_worker.priority import lower_priority
from services.llm_worker.rule_text import rule_descriptions
from services.llm_worker.runner import ModelRunner, TextEngine
from services.scoring.wiring import DEFAULT_RULES
from services.stream.batch_consumer import MicroBatchConsumer
from services.stream.dead_letter import DeadLetterSink
from services.stream.delivery import DeliveryTracker
from services.stream.shutdown import StopFlag

__all__ = ["WorkerConfig", "build_llm_worker", "decode_request", "load_engine"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    group_id: str = "fraudstream-llm"
    #: Kafka messages per micro-batch (each waits at most ``request_timeout_s``).
    max_batch: int = 32
    max_wait_ms: int = 100
    #: Model batch size, queue bound and deadline (None: from ``settings.llm``).
    batch_size: int | None = None
    queue_limit: int | None = None
    request_timeout_s: float | None = None
    #: Adapter alias or version per task (None: ``settings.llm.adapter_alias``).
    explain_ref: str | None = None
    analyse_ref: str | None = None
    threads: int = 1
    #: Linux ``SCHED_IDLE`` for the worker's threads (falls back to ``nice``).
    idle_priority: bool = True
    nice: int = 19
    #: Pause the model between steps while others wait for the CPU (``CpuYield``).
    yield_cpu: bool = True
    #: Others' CPU (cores) above which the model pauses; None: ``settings.llm.yield_busy_cores``.
    yield_busy_cores: float | None = None
    rules_path: Path = DEFAULT_RULES


def decode_request(data: bytes) -> Decision | UserMessage:
    """A flagged/blocked decision or a user message; anything else is a ``ContractError``."""
    event = decode(data)
    if isinstance(event, UserMessage):
        return event
    if isinstance(event, Decision):
        if event.action == "allow":
            raise ContractError("an allowed decision is not a case", field="$.action")
        return event
    raise ContractError(f"expected a decision or a user message, got {type(event).__name__}")


def load_engine(settings: Settings, config: WorkerConfig) -> TextEngine:
    """Both adapters from the registry (by alias or version) on the prepared base model."""
    from models.llm.base import prepare_base

    llm = settings.llm
    refs: dict[Task, str] = {
        "explain": config.explain_ref or llm.adapter_alias,
        "analyse": config.analyse_ref or llm.adapter_alias,
    }
    # The registry is asked in another process while torch loads the base here.
    with AdapterFetch(settings.mlflow, llm, {task: refs[task] for task in TASKS}) as fetch:
        prepare_base(llm.base_dir)
        from models.llm.engine import LlmEngine

        engine = LlmEngine.load(
            llm.base_dir,
            fetch.result,
            max_new_tokens=llm.max_new_tokens,
            constrained=llm.constrained_decoding,
            restrict_vocabulary=llm.restrict_vocabulary,
            precision=llm.dtype,
        )
    if config.yield_cpu:
        engine.between_steps = CpuYield(busy_cores=config.yield_busy_cores or llm.yield_busy_cores)
    return engine


def build_llm_worker(
    settings: Settings,
    config: WorkerConfig | None = None,
    *,
    stop: StopFlag | None = None,
    engine: TextEngine | None = None,
) -> tuple[MicroBatchConsumer[object], LlmHandler, ModelRunner]:
    """The worker, connected; ``engine`` replaces the registry's adapters (tests, benchmarks)."""
    config = config or WorkerConfig()
    _lower_priority(config)
    llm = settings.llm
    if engine is None:
        engine = load_engine(settings, config)
    versions = _versions(engine)
    metrics.VERSIONS.info(versions)
    runner = ModelRunner(
        engine,
        batch_size=config.batch_size or llm.batch_size,
        max_wait_ms=llm.max_wait_ms,
        queue_limit=config.queue_limit or llm.queue_limit,
        on_batch=lambda task, size, seconds: metrics.BATCH_SECONDS.labels(task).observe(seconds),
    )
    kafka = settings.kafka
    producer = make_producer(kafka)
    tracker = DeliveryTracker()
    handler = LlmHandler(
        runner,
        producer,
        tracker,
        kafka.topics,
        rule_descriptions=rule_descriptions(config.rules_path),
        request_timeout_s=config.request_timeout_s or llm.request_timeout_s,
        adapter_versions=versions,
    )
    loop: MicroBatchConsumer[object] = MicroBatchConsumer(
        make_consumer(kafka, config.group_id, **OFF_HOT_PATH),
        producer,
        [kafka.topics.cases, kafka.topics.user_messages],
        decode_request,
        handler,  # type: ignore[arg-type]
        DeadLetterSink(producer, kafka.topics.dead_letter, tracker),
        max_batch=config.max_batch,
        max_wait_ms=config.max_wait_ms,
        stop=stop,
    )
    runner.start()
    return loop, handler, runner


def _lower_priority(config: WorkerConfig) -> None:
    """Threads started after this (the model thread, torch's) inherit the lower priority."""
    import torch

    torch.set_num_threads(config.threads)
    done = lower_priority(idle=config.idle_priority, nice=config.nice)
    log.info("CPU priority: %s", ", ".join(done) or "unchanged")


def _versions(engine: TextEngine) -> dict[str, str]:
    report = getattr(engine, "load_report", None)
    adapters = getattr(report, "adapters", None)
    return dict(adapters) if isinstance(adapters, dict) else {}

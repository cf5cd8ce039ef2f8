"""``fraudstream bench e2e``: the real scorer end to end, next to the floor of the same stack.

Against the running stack (``fraudstream stack up``, a champion in the
registry), with fresh uniquely named topics and Redis key prefix (removed
afterwards), two apps run as their own processes: the scorer (``fraudstream
run scorer``) and the floor, ``services.bench.echo`` (the scorer's loop with a
handler that forwards the bytes: same client settings, batching, commits).

One app at a time (never both: two cores), each offered rate in turn gets
simulated transactions for ``seconds`` (``max``: a backlog of ``max_count``
produced flat out). Measured per phase: end-to-end latency (a transaction's
produce time, its Kafka CreateTime set here, to its output consumed here, one
clock); sustained throughput (outputs / (last output - first input)); CPU of
the app, the broker and Redis (``/proc/<pid>/stat``); for the scorer, the
in-process time per stage from decisions' ``timings_ms``. Printed next to the
targets, never asserted.

With ``llm_worker``, each rate is also run on the same scorer with the LLM
worker generating beside it, in rounds between phases alone
(``services.bench.beside_llm``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from tqdm import tqdm

from contracts.codec import encode
from contracts.settings import KafkaSettings, Settings, TopicNames
from services.bench.beside_llm import (
    ALONE,
    BESIDE,
    CONTROL_ARGV,
    LlmWorkerBeside,
    alone_first,
    beside_lines,
    beside_target,
    require_adapters,
)
from services.bench.features import simulated_transactions
from services.bench.host import HostLoad, HostSample, cpu_seconds, host_reference_ms
from services.bench.stats import percentiles_ms, table
from services.exceptions import ServiceError, StackError
from services.kafka.admin import delete_topics, ensure_topics
from services.kafka.clients import make_consumer, make_producer

__all__ = ["E2EConfig", "E2EReport", "PhaseResult", "run_e2e_bench"]

STAGES = ("features", "model", "rules", "explain", "total")
_WARMUP = 64
_CLI = [sys.executable, "-c", "from services.cli.main import main; main()"]


@dataclass(frozen=True)
class E2EConfig:
    #: Offered rates in tx/s; None is "max" (a backlog of ``max_count``, as fast as possible).
    rates: tuple[int | None, ...] = (1000, 5000, None)
    seconds: float = 10.0
    max_count: int = 50_000
    partitions: int = 4
    max_batch: int = 256
    max_wait_ms: int = 5
    #: Give up waiting for outputs after this long without progress.
    stall_s: float = 20.0
    #: Also run each rate with the LLM worker generating beside the scorer.
    llm_worker: bool = False
    #: With ``llm_worker``: a do-nothing process in the worker's place (the control).
    control: bool = False
    #: With ``llm_worker``: rounds per rate, each a fresh scorer on fresh topics,
    #: alone and beside the worker.
    rounds: int = 4


@dataclass
class PhaseResult:
    app: str
    rate: int | None
    sent: int
    received: int
    throughput: float
    latency_ms: dict[str, float]
    cpu_pct: dict[str, float | None]
    stages_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Explanations the LLM worker wrote during the phase, by source (``scorer+llm`` only).
    explanations: dict[str, int] | None = None
    #: Seconds from starting the LLM worker to its "ready" line (``scorer+llm`` only).
    worker_ready_s: float | None = None
    #: How much the host made everyone wait for a CPU during the phase.
    host: HostLoad | None = None
    #: The round beside the LLM worker this phase belongs to (``ALONE`` / ``BESIDE`` only).
    round: int | None = None
    #: Every output's end-to-end latency and (scorer) time per stage, in seconds:
    #: what percentiles pooled over several phases are taken from.
    e2e_s: list[float] = field(default_factory=list, repr=False)
    stage_s: dict[str, list[float]] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class E2EReport:
    report: str
    phases: list[PhaseResult]


def _stack_pids(settings: Settings) -> dict[str, int | None]:
    """The broker's and Redis' pids when the settings point at the local stack (else None)."""
    from services.stack import LocalStack

    try:
        stack = LocalStack.from_settings(settings)
        running = {"broker": stack.kafka.running(), "redis": stack.redis.running()}
    except StackError:
        return {"broker": None, "redis": None}
    bootstrap = settings.kafka.bootstrap_servers.split(",")[0]
    ports = {"broker": urlsplit(f"//{bootstrap}").port, "redis": urlsplit(settings.redis.url).port}
    return {
        name: record.pid if record is not None and record.port == ports[name] else None
        for name, record in running.items()
    }


class _App:
    """A child process (echo or scorer): its input and output topics, and a reader of the output."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log: Path,
        route: tuple[str, str], kafka: KafkaSettings,
    ) -> None:  # fmt: skip
        self.name, self.log, (self.source, sink) = name, log, route
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        self.outputs = _Collector(kafka, sink)
        self.outputs.start()
        # One producer for all the app's phases, as a payment system keeps one. A
        # fresh one delivers its first message only 0.5-1 s after it is made (on
        # the embedded broker; later ones in ~0.3 ms), and every transaction
        # offered meanwhile waits: that start alone used to set each phase's p99.
        self.producer = make_producer(kafka)

    def wait_for(self, count: int, stall_s: float) -> None:
        """Until ``count`` outputs of the phase arrived, or none arrived for ``stall_s``."""
        seen, last_progress = -1, time.monotonic()
        while len(self.outputs.latencies) < count:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise ServiceError(f"the {self.name} exited ({self.process.returncode}):\n{tail}")
            if len(self.outputs.latencies) != seen:
                seen, last_progress = len(self.outputs.latencies), time.monotonic()
            elif time.monotonic() - last_progress > stall_s:
                return  # reported as fewer outputs than inputs
            time.sleep(0.05)

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.terminate()  # SIGTERM: finish the batch, commit, exit
                try:
                    self.process.wait(20)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        finally:
            self.outputs.close()
            self.producer.flush(10)


class _Output(msgspec.Struct):
    """The two fields read from an output (a forwarded transaction or a decision)."""

    tx_id: str
    timings_ms: dict[str, float] = {}


class _Collector(threading.Thread):
    """Reads one output topic from its start, timestamping each first arrival of a tx id."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        super().__init__(name=f"collect-{topic}", daemon=True)
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.timings: list[dict[str, float]] = []
        self.seen: set[str] = set()
        self.last_arrival = 0.0
        self._decoder = msgspec.json.Decoder(_Output)
        self._halt = threading.Event()
        self._consumer = make_consumer(kafka, f"bench-reader-{uuid.uuid4().hex[:8]}")
        partitions = range(kafka.partitions)
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def expect(self, sent: dict[str, float]) -> None:
        """Start a phase: outputs for ``sent`` (tx id -> produce time) are measured."""
        self.sent, self.latencies, self.timings = sent, [], []

    def run(self) -> None:
        while not self._halt.is_set():
            # A short wait: consume() returns when the wait ends or the count is
            # reached, and every message it returns is timestamped at its return.
            for msg in self._consumer.consume(num_messages=256, timeout=0.005):
                now = time.time()
                if msg.error() is not None:
                    continue
                output = self._decoder.decode(msg.value() or b"{}")
                if output.tx_id in self.seen:
                    continue  # a redelivery: its first arrival is the one that counts
                self.seen.add(output.tx_id)
                produced = self.sent.get(output.tx_id)
                if produced is not None:
                    self.latencies.append(now - produced)
                    self.timings.append(output.timings_ms)
                    self.last_arrival = now
        self._consumer.close()

    def close(self) -> None:
        self._halt.set()
        self.join(10)


def _offer(
    app: _App, payloads: list[tuple[str, bytes, bytes]], rate: int | None, *, progress: bool = False
) -> float:
    """Produce at ``rate`` (None: flat out), each produce time noted for the app's reader."""
    sent: dict[str, float] = {}
    app.outputs.expect(sent)
    producer = app.producer
    started = time.time()
    label = f"{app.name} @ {rate or 'max'}"
    with tqdm(total=len(payloads), desc=label, unit="tx", leave=False, disable=not progress) as bar:
        for i, (tx_id, key, value) in enumerate(payloads):
            if rate is not None:
                # Sleep until this one is due; everything due by then goes out in a burst.
                if (delay := started + i / rate - time.time()) > 0.0005:
                    time.sleep(delay)
                    bar.update(i - bar.n)
                    producer.poll(0)
            now = time.time()
            sent[tx_id] = now  # before produce: the output can never arrive first
            # The transaction's CreateTime is this same instant (ms); `sent` keeps the µs.
            producer.produce(app.source, value=value, key=key, timestamp=int(now * 1000))
        producer.flush(60)
        bar.update(len(payloads) - bar.n)
    return started


def _phase(
    app: _App, rate: int | None, payloads: list[tuple[str, bytes, bytes]],
    pids: dict[str, int | None], config: E2EConfig, progress: bool, *, label: str | None = None,
) -> PhaseResult:  # fmt: skip
    watched = {"app": app.process.pid, **pids}
    before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    host_before = HostSample.now()
    wall = time.monotonic()
    started = _offer(app, payloads, rate, progress=progress)
    app.wait_for(len(payloads), config.stall_s)
    elapsed = time.monotonic() - wall
    host = host_before.until(HostSample.now())
    cpu: dict[str, float | None] = {}
    for name, pid in watched.items():
        after, start = cpu_seconds(pid), before[name]
        cpu[name] = None if after is None or start is None else 100 * (after - start) / elapsed
    out = app.outputs
    received = len(out.latencies)
    samples: dict[str, list[float]] = {}
    if out.timings and out.timings[0]:
        samples = {s: [t.get(s, 0.0) / 1000 for t in out.timings] for s in STAGES}
    span = max(out.last_arrival - started, 1e-9)
    return PhaseResult(
        app=label or app.name,
        rate=rate,
        sent=len(payloads),
        received=received,
        throughput=received / span if received else 0.0,
        latency_ms=percentiles_ms(out.latencies),
        cpu_pct=cpu,
        stages_ms={s: percentiles_ms(x) for s, x in samples.items()},
        host=host,
        e2e_s=list(out.latencies),
        stage_s=samples,
    )


def run_e2e_bench(settings: Settings, config: E2EConfig, *, progress: bool = True) -> E2EReport:
    if config.llm_worker and not config.control:
        require_adapters(settings)  # before minutes of phases, not after
    bench = _Bench(settings, config, progress)
    sizes = [config.max_count if r is None else int(r * config.seconds) for r in config.rates]
    # Every phase has transactions of its own (the same ones again would be
    # redeliveries, answered from their dedup records): per rate, one for the
    # main phase (the echo floor takes the same ones, on its own topics) and two
    # per round beside the LLM worker.
    runs = 1 + 2 * config.rounds if config.llm_worker else 1
    transactions = simulated_transactions(_WARMUP + runs * sum(sizes))
    payloads = [(tx.tx_id, tx.card_id.encode(), encode(tx)) for tx in transactions]
    bench.warmup = payloads[:_WARMUP]
    fresh = iter(payloads[_WARMUP:])
    slices = [[list(islice(fresh, size)) for _ in range(runs)] for size in sizes]
    phases: list[PhaseResult] = []
    try:
        echo_in, echo_out = bench.echo_topics()
        topics = bench.fresh_topics("main")
        apps = [
            ("echo", [sys.executable, "-m", "services.bench.echo", "--source", echo_in,
                      "--sink", echo_out, "--group-id", f"{bench.tag}-echo", *bench.batching],
             (echo_in, echo_out), None),
            ("scorer", bench.scorer_argv("main"), (topics.transactions, topics.decisions), topics),
        ]  # fmt: skip
        for name, argv, route, app_topics in apps:
            # One app at a time: even idle, a consumer's fetches cost the broker CPU.
            app = bench.start_app(name, argv, route, app_topics)
            try:
                for rate, own in zip(config.rates, slices, strict=True):
                    phases.append(_phase(app, rate, own[0], bench.pids, config, progress))
            finally:
                app.stop()
        if config.llm_worker:
            for rate, own in zip(config.rates, slices, strict=True):
                for n in range(config.rounds):
                    phases += _beside_round(bench, rate, n + 1, own[1 + 2 * n], own[2 + 2 * n])
    finally:
        bench.clean_up()
    return E2EReport(_format(phases, config, host_reference_ms()), phases)


class _Bench:
    """One run's names, processes' settings and scratch space; ``clean_up`` removes them."""

    def __init__(self, settings: Settings, config: E2EConfig, progress: bool) -> None:
        self.settings, self.config, self.progress = settings, config, progress
        self.tag = f"bench-{uuid.uuid4().hex[:8]}"
        self.kafka = settings.kafka.model_copy(update={"partitions": config.partitions})
        self.prefix = f"{settings.redis.key_prefix}-{self.tag}"
        self.batching = [
            "--max-batch", str(config.max_batch), "--max-wait-ms", str(config.max_wait_ms)
        ]  # fmt: skip
        self.pids = _stack_pids(settings)
        self.warmup: list[tuple[str, bytes, bytes]] = []
        self._scratch = tempfile.TemporaryDirectory(prefix="fraudstream-bench-")
        self.scratch = Path(self._scratch.name)
        self._made: list[str] = []

    def echo_topics(self) -> tuple[str, str]:
        names = (f"{self.tag}-echo-in", f"{self.tag}-echo-out")
        self._ensure(list(names))
        return names

    def fresh_topics(self, name: str) -> TopicNames:
        """A new set of the system's topics: each starts with an empty log."""
        defaults = TopicNames().model_dump()
        topics = TopicNames(**{f: f"{self.tag}-{name}-{n}" for f, n in defaults.items()})
        self._ensure(topics.all())
        return topics

    def _ensure(self, names: list[str]) -> None:
        self._made += names
        ensure_topics(self.kafka, names)

    def kafka_on(self, topics: TopicNames) -> KafkaSettings:
        return self.kafka.model_copy(update={"topics": topics})

    def env_for(self, topics: TopicNames | None) -> dict[str, str]:
        """Processes read their settings like any deployment: these set topics and prefix."""
        env = {**os.environ, "FRAUDSTREAM_REDIS__KEY_PREFIX": self.prefix}
        if topics is not None:
            env |= {
                f"FRAUDSTREAM_KAFKA__TOPICS__{f.upper()}": n for f, n in topics.model_dump().items()
            }
        return env

    def scorer_argv(self, name: str) -> list[str]:
        return [*_CLI, "run", "scorer", "--group-id", f"{self.tag}-{name}-scorer",
                "--metrics-port", "0", "--no-log-json", *self.batching]  # fmt: skip

    def worker_argv(self, name: str) -> list[str]:
        if self.config.control:
            return CONTROL_ARGV
        # JSON logs (the default) carry its INFO "ready" line, which says when it is ready.
        return [*_CLI, "run", "llm-worker", "--group-id", f"{self.tag}-{name}-llm",
                "--metrics-port", "0"]  # fmt: skip

    def start_app(
        self, name: str, argv: list[str], route: tuple[str, str], topics: TopicNames | None
    ) -> _App:
        """Start an app and warm it up until it answers (models loaded, partitions assigned)."""
        log = self.scratch / f"{name}.log"
        app = _App(name, argv, self.env_for(topics), log, route, self.kafka)
        try:
            _offer(app, self.warmup, None)
            app.wait_for(len(self.warmup), stall_s=120)
            if len(app.outputs.latencies) < len(self.warmup):
                tail = app.log.read_text(errors="replace")[-3000:]
                raise ServiceError(f"the {name} did not answer within 120 s:\n{tail}")
        except BaseException:
            app.stop()
            raise
        return app

    def clean_up(self) -> None:
        try:
            delete_topics(self.kafka, self._made)
            _forget_keys(self.settings, self.prefix)
        finally:
            self._scratch.cleanup()


def _beside_round(
    bench: _Bench, rate: int | None, n: int,
    first: list[tuple[str, bytes, bytes]], second: list[tuple[str, bytes, bytes]],
) -> list[PhaseResult]:  # fmt: skip
    """Round ``n``: on fresh topics, a fresh scorer alone and beside the LLM worker.

    The embedded broker slows down as a topic's log grows (the same phase twice
    on one set of topics: e2e p99 194 then 771 ms; seven in a row ended at 91
    tx/s), so each round starts on empty logs, and the rounds alternate which
    phase runs first: the second phase's longer logs fall on both sides. The
    worker is started once the scorer answers, and frozen (SIGSTOP) while the
    scorer is alone.
    """
    config = bench.config
    name = f"{rate or 'max'}-r{n}"
    topics = bench.fresh_topics(name)
    app = bench.start_app(
        f"scorer-{name}", bench.scorer_argv(name), (topics.transactions, topics.decisions), topics
    )
    worker = LlmWorkerBeside(
        bench.worker_argv(name),
        bench.env_for(topics),
        bench.scratch / f"llm-{name}.log",
        bench.kafka_on(topics),
    )
    phases = []
    try:
        ready_s = worker.start()
        worker.settle()  # its start's one-time work done before any phase
        worker.freeze()
        watched = {**bench.pids, "llm": worker.pid}
        order = (ALONE, BESIDE) if alone_first(n) else (BESIDE, ALONE)
        for label, payloads in zip(order, (first, second), strict=True):
            if label == BESIDE:
                worker.thaw()
            phase = _phase(app, rate, payloads, watched, config, bench.progress, label=label)
            phase.round = n
            if label == BESIDE:
                worker.freeze()  # then counted: what it wrote up to here, the reader a fetch behind
                phase.explanations = worker.explanations()
                phase.worker_ready_s = ready_s
            phases.append(phase)
    finally:
        try:
            worker.close()
        finally:
            app.stop()
    return phases


def _forget_keys(settings: Settings, prefix: str) -> None:
    """Hygiene only (the prefix is unique to the run): delete its Redis keys."""
    import redis

    password = settings.redis.password.get_secret_value() if settings.redis.password else None
    client = redis.Redis.from_url(settings.redis.url, password=password)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=5000))
        for start in range(0, len(keys), 5000):
            client.unlink(*keys[start : start + 5000])
    except redis.RedisError:
        pass
    finally:
        client.close()


def _format(phases: list[PhaseResult], config: E2EConfig, host_ms: float) -> str:
    processes = ["app", "broker", "redis", *(["llm"] if config.llm_worker else [])]
    rows = []
    for p in phases:
        lat = p.latency_ms
        cpu = [p.cpu_pct.get(name) for name in processes]
        rows.append([
            p.rate or "max", p.app if p.round is None else f"{p.app} r{p.round}",
            p.received if p.received == p.sent else f"{p.received}/{p.sent}",
            p.throughput, lat["p50"], lat["p99"], lat["p99.9"],
            *("n/a" if c is None else f"{c:.0f}%" for c in cpu),
            *_host_cells(p.host),
        ])  # fmt: skip
    header = ["offered tx/s", "app", "outputs", "sustained tx/s", "e2e p50 ms", "p99 ms",
              "p99.9 ms", *(f"{name} CPU" for name in processes),
              "CPU pressure", "steal"]  # fmt: skip
    lines = [
        f"fraudstream bench e2e: {config.partitions} partitions, {config.seconds:g} s per rate "
        f"(max: {config.max_count:,} tx backlog), "
        f"batch {config.max_batch} / {config.max_wait_ms} ms; this host runs a fixed "
        f"pure-Python loop (2M additions) in {host_ms:,.0f} ms",
        "",
        table(rows, header),
        "CPU pressure: share of the phase in which some runnable task waited for a CPU (Linux "
        "PSI);\nsteal: CPU time the hypervisor gave to other guests, of all cores' time.",
        "",
        "scorer minus the echo floor (same stack, same client settings, same rate):",
    ]
    pairs = {(p.rate, p.app): p for p in phases}
    diff_rows = []
    for rate in config.rates:
        echo, scorer = pairs[(rate, "echo")], pairs[(rate, "scorer")]
        row: list[object] = [rate or "max"]
        for q in ("p50", "p99", "p99.9"):
            s, e = scorer.latency_ms[q], echo.latency_ms[q]
            row += [s - e, f"{s / e:.2f}x" if e > 0 else "n/a"]
        diff_rows.append(row)
    lines.append(table(diff_rows, ["offered tx/s", "+p50 ms", "ratio", "+p99 ms", "ratio",
                                   "+p99.9 ms", "ratio"]))  # fmt: skip
    lines += [
        "",
        "scorer in-process time per stage, as each transaction's micro-batch took it "
        "(decisions' timings_ms: a batch of 256 weighs 256 times), ms:",
    ]
    stage_rows = [
        [p.rate or "max", p.app, s, p.stages_ms[s]["p50"], p.stages_ms[s]["p99"],
         p.stages_ms[s]["p99.9"]]
        for p in phases if p.app == "scorer" and p.stages_ms for s in STAGES
    ]  # fmt: skip
    lines.append(table(stage_rows, ["offered tx/s", "app", "stage", "p50", "p99", "p99.9"]))
    if beside := beside_lines(phases, control=config.control):
        lines += ["", *beside]
    lines += ["", *_targets(phases), *beside_target(phases, control=config.control)]
    return "\n".join(lines)


def _host_cells(host: HostLoad | None) -> list[str]:
    if host is None:
        return ["n/a", "n/a"]
    return ["n/a" if v is None else f"{v:.0f}%" for v in (host.cpu_pressure_pct, host.steal_pct)]


def _targets(phases: list[PhaseResult]) -> list[str]:
    scorer = {p.rate: p for p in phases if p.app == "scorer"}
    best = max((p.throughput for p in scorer.values()), default=0.0)
    lines = [
        "targets (printed, not asserted):",
        f"  >= 10,000 tx/s sustained by one scorer process: {best:,.0f} tx/s "
        f"({'met' if best >= 10_000 else 'NOT met'})",
    ]
    at_1000 = scorer.get(1000)
    if at_1000 is None:
        return [*lines, "  at 1,000 tx/s offered: n/a (1000 is not among the rates)"]
    in_process = at_1000.stages_ms.get("total", {}).get("p99", float("nan"))
    for what, value, limit in (
        ("in-process", in_process, 2.0),
        ("end-to-end", at_1000.latency_ms["p99"], 15.0),
    ):
        verdict = "met" if value <= limit else "NOT met"
        lines.append(
            f"  at 1,000 tx/s offered, {what} p99 <= {limit:g} ms: {value:.2f} ms ({verdict})"
        )
    return lines

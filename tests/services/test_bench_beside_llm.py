"""``bench e2e --llm-worker``: the worker's handle, its explanation count, the report."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from contracts.codec import encode
from contracts.events import Explanation
from services.bench.beside_llm import (
    ALONE,
    BESIDE,
    LlmWorkerBeside,
    alone_first,
    beside_lines,
    beside_target,
    require_adapters,
)
from services.bench.e2e import PhaseResult
from services.bench.host import cpu_seconds
from services.exceptions import ServiceError


def _explanation(tx_id: str, source: str) -> bytes:
    return encode(
        Explanation(
            tx_id=tx_id,
            card_id="C1",
            customer_id="U1",
            action="flag",
            score=0.7,
            risk_level="high",
            text="Flagged: a new device and a burst of small amounts.",
            source=source,  # type: ignore[arg-type]
            fallback_reason=None if source == "model" else "timeout",
            generated_at_ms=1_700_000_000_000,
        )
    )


def _child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_no_adapters_fails_before_any_phase_with_the_command_to_run(settings):
    with pytest.raises(ServiceError, match=r"explain adapter .*fraudstream llm train"):
        require_adapters(settings)


def test_worker_is_ready_on_its_line_and_its_explanations_are_counted_by_source(
    settings, kafka_producer, tmp_path
):
    ready = "import time; print('llm worker ready in 0.1s', flush=True); time.sleep(60)"
    worker = LlmWorkerBeside(_child(ready), {}, tmp_path / "llm.log", settings.kafka)
    try:
        worker.start(ready_within_s=30)
        assert worker.process is not None and worker.process.poll() is None
        topic = settings.kafka.topics.explanations
        for i, source in enumerate(["model", "template", "model"]):
            kafka_producer.produce(topic, _explanation(f"T{i}", source), key=b"C1")
        kafka_producer.flush(10)
        counted: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while sum(counted.values()) < 3 and time.monotonic() < deadline:
            for source, n in worker.explanations().items():
                counted[source] = counted.get(source, 0) + n
        assert counted == {"model": 2, "template": 1}
        worker.stop()
        assert worker.process is None
    finally:
        worker.close()


def test_a_worker_that_exits_before_ready_is_an_error_with_its_output(settings, tmp_path):
    dies = "import sys; print('no adapters here', flush=True); sys.exit(3)"
    worker = LlmWorkerBeside(_child(dies), {}, tmp_path / "llm.log", settings.kafka)
    try:
        with pytest.raises(ServiceError, match=r"exited \(3\)[\s\S]*no adapters here"):
            worker.start(ready_within_s=30)
    finally:
        worker.close()


def _phase(
    app: str, rate: int | None, e2e_p99: float, in_process_p99: float, *,
    round_: int | None = 1, llm_cpu: float = 55.0, slow: int = 2,
) -> PhaseResult:  # fmt: skip
    # 100 decisions: ``slow`` of them at the p99 given, the rest at a quarter of
    # it (what a pooled p99 is taken from).
    in_process = [in_process_p99 / 4000] * (100 - slow) + [in_process_p99 / 1000] * slow
    e2e = [e2e_p99 / 4000] * (100 - slow) + [e2e_p99 / 1000] * slow
    return PhaseResult(
        app=app,
        rate=rate,
        sent=100,
        received=100,
        throughput=990.0,
        latency_ms={"p50": e2e_p99 / 4, "p99": e2e_p99, "p99.9": e2e_p99 * 1.2},
        cpu_pct={"app": 30.0, "broker": 90.0, "redis": 20.0, "llm": llm_cpu},
        stages_ms={"total": {"p50": in_process_p99 / 4, "p99": in_process_p99}},
        explanations={"model": 3, "template": 40} if app == BESIDE else None,
        worker_ready_s=8.25 if app == BESIDE else None,
        round=round_,
        e2e_s=e2e,
        stage_s={"features": [x / 2 for x in in_process], "total": in_process},
    )


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip()[:1].isdigit()]


def test_each_round_compares_beside_with_alone_and_every_round_is_pooled():
    phases = [
        _phase("scorer", 1000, 400.0, 19.0, round_=None),  # the main phase: not a round
        _phase(ALONE, 1000, 500.0, 20.0, llm_cpu=0.0),
        _phase(BESIDE, 1000, 600.0, 22.0),
        _phase(BESIDE, 1000, 500.0, 20.0, round_=2),  # round 2 runs beside first
        _phase(ALONE, 1000, 700.0, 25.0, round_=2, llm_cpu=0.0),
        _phase(ALONE, 5000, 800.0, 40.0),
        _phase(BESIDE, 5000, 1200.0, 80.0),
        _phase(ALONE, None, 900.0, 50.0),  # no beside phase: no row
    ]
    rounds, pooled = "\n".join(beside_lines(phases)).split("every round pooled")
    rows = _rows(rounds)
    assert [row.split()[:3] for row in rows] == [
        ["1,000", "1", "alone"], ["1,000", "2", "beside"], ["5,000", "1", "alone"]
    ]  # fmt: skip
    # alone / beside: e2e p99 600 / 500, in-process p99 22 / 20.
    assert "500.0 / 600.0" in rows[0] and "1.20x" in rows[0]
    assert "20.0 / 22.0" in rows[0] and "1.10x" in rows[0]
    assert "55% / 0%" in rows[0]  # frozen while alone
    assert "3 / 40" in rows[0] and "8.2" in rows[0]
    assert "0.71x" in rows[1] and "0.80x" in rows[1]  # 500 / 700, 20 / 25
    assert "1.50x" in rows[2] and "2.00x" in rows[2]
    stage_rows = _rows(pooled)
    assert [row.split()[:2] for row in stage_rows] == [
        ["1,000", "2"], ["5,000", "1"],
        ["1,000", "features"], ["1,000", "total"], ["5,000", "features"], ["5,000", "total"],
    ]  # fmt: skip


def test_the_verdict_pools_every_round_and_lists_each_round_s_ratio():
    rounds = [
        _phase(ALONE, 1000, 500.0, 20.0),
        _phase(BESIDE, 1000, 600.0, 20.0),
        _phase(BESIDE, 1000, 600.0, 30.0, round_=2, slow=10),  # slower, and more often
        _phase(ALONE, 1000, 700.0, 20.0, round_=2),
        _phase(ALONE, 1000, 700.0, 20.0, round_=3),
        _phase(BESIDE, 1000, 600.0, 20.0, round_=3),
    ]
    # Pooled: 300 decisions beside (4 at 20 ms, 10 at 30 ms) against 300 alone (6 at 20 ms).
    beside = [5.0] * 196 + [7.5] * 90 + [20.0] * 4 + [30.0] * 10
    alone = [5.0] * 294 + [20.0] * 6
    beside_p99, alone_p99 = (float(np.percentile(x, 99)) for x in (beside, alone))
    assert (beside_p99, alone_p99) == (30.0, 20.0)
    target = beside_target(rounds)[0]
    assert f"{beside_p99:.2f} vs {alone_p99:.2f} ms (NOT met)" in target
    assert "3 round(s) pooled" in target
    assert target.endswith("per round 1.00x, 1.00x, 1.50x (median 1.00x)")

    steady = [p if p.app != BESIDE else _phase(BESIDE, 1000, 600.0, 21.0, round_=p.round)
              for p in rounds]  # fmt: skip
    assert "(met)" in beside_target(steady)[0]
    assert "CONTROL run" in beside_target(steady, control=True)[0]
    assert beside_target([p for p in rounds if p.app == ALONE]) == []  # never beside it
    assert beside_target([_phase(BESIDE, 5000, 600.0, 20.0), _phase(ALONE, 5000, 1, 1)]) == []


def test_rounds_alternate_which_phase_runs_first():
    assert [alone_first(n) for n in (1, 2, 3, 4)] == [True, False, True, False]


def test_settling_waits_while_the_worker_computes_and_ends_once_it_idles(settings, tmp_path):
    busy_then_idle = (
        "import time\nprint('llm worker ready in 0.1s', flush=True)\n"
        "end = time.process_time() + 2.5\nwhile time.process_time() < end: pass\n"
        "time.sleep(60)"
    )
    worker = LlmWorkerBeside(_child(busy_then_idle), {}, tmp_path / "llm.log", settings.kafka)
    try:
        worker.start(ready_within_s=30)
        waited = worker.settle(max_s=30, every_s=0.5)
        assert 2.0 <= waited < 10.0  # through the busy start, then one quiet interval
        spent = cpu_seconds(worker.pid)
        assert spent is not None and spent >= 2.5
    finally:
        worker.close()


def test_a_frozen_worker_takes_no_cpu_until_thawed_and_stops_while_frozen(settings, tmp_path):
    spin = "print('llm worker ready in 0.1s', flush=True)\nwhile True: pass"
    worker = LlmWorkerBeside(_child(spin), {}, tmp_path / "llm.log", settings.kafka)
    try:
        worker.start(ready_within_s=30)
        assert worker.pid is not None
        worker.freeze()
        time.sleep(0.3)  # the signal is delivered asynchronously
        frozen_at = cpu_seconds(worker.pid)
        time.sleep(1.0)
        assert cpu_seconds(worker.pid) == frozen_at
        worker.thaw()
        time.sleep(1.0)
        after = cpu_seconds(worker.pid)
        assert after is not None and frozen_at is not None and after > frozen_at + 0.2
        worker.freeze()
        process = worker.process
        worker.stop()  # SIGTERM reaches a frozen worker too
        assert process is not None and process.poll() is not None
    finally:
        worker.close()


def test_a_restarted_worker_is_ready_only_on_its_own_line_not_the_last_one_s(settings, tmp_path):
    log = tmp_path / "llm.log"
    ready = "import time; print('llm worker ready in 0.1s', flush=True); time.sleep(60)"
    first = LlmWorkerBeside(_child(ready), {}, log, settings.kafka)
    try:
        first.start(ready_within_s=30)
    finally:
        first.close()
    silent = LlmWorkerBeside(_child("import time; time.sleep(60)"), {}, log, settings.kafka)
    try:
        with pytest.raises(ServiceError, match="not ready in 2 s"):
            silent.start(ready_within_s=2)
    finally:
        silent.close()

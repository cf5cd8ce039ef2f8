"""``bench e2e`` on the real broker and Redis: every offered transaction is measured.

The figures themselves are never asserted (they depend on the host); what is
checked is that each phase accounts for every transaction it offered, through
the echo floor and through the real scorer, and that the report carries the
scorer's in-process stages and the targets.
"""

from __future__ import annotations

import pytest

from contracts.settings import Settings
from services.bench.beside_llm import AFTER, BESIDE
from services.bench.e2e import STAGES, E2EConfig, run_e2e_bench

#: The scorer fixtures (a plugin, so the session-scoped models are trained once).
pytest_plugins = ["tests.services.scorer_fixtures"]

pytestmark = pytest.mark.slow


def test_every_offered_transaction_is_measured_through_the_floor_and_the_scorer(
    scorer_settings: Settings,
) -> None:
    config = E2EConfig(rates=(300, None), seconds=1.0, max_count=600, partitions=2)
    report = run_e2e_bench(scorer_settings, config, progress=False)

    phases = {(p.app, p.rate): p for p in report.phases}
    assert set(phases) == {("echo", 300), ("echo", None), ("scorer", 300), ("scorer", None)}
    for (app, rate), phase in phases.items():
        assert phase.sent == (300 if rate == 300 else 600), (app, rate)
        assert phase.received == phase.sent, (app, rate)
        assert 0 < phase.latency_ms["p50"] <= phase.latency_ms["p99"], (app, rate)
        assert phase.throughput > 0
    for rate in (300, None):
        stages = phases[("scorer", rate)].stages_ms
        assert set(stages) == set(STAGES)
        assert 0 < stages["features"]["p50"] <= stages["total"]["p50"]
        assert phases[("echo", rate)].stages_ms == {}  # the floor does no work to time
    assert "targets (printed, not asserted)" in report.report
    assert "scorer in-process per micro-batch stage" in report.report


def test_the_control_runs_alone_then_rounds_beside_a_do_nothing_process_and_alone_again(
    scorer_settings: Settings,
) -> None:
    config = E2EConfig(
        rates=(300,), seconds=1.0, partitions=2, llm_worker=True, control=True, rounds=2
    )
    report = run_e2e_bench(scorer_settings, config, progress=False)

    scorer = [p for p in report.phases if p.app != "echo"]
    assert [p.app for p in scorer] == ["scorer", BESIDE, AFTER, BESIDE, AFTER]
    for phase in scorer:
        # Outputs are counted on a tx id's first arrival only: 300 each means each
        # phase had transactions of its own.
        assert phase.received == phase.sent == 300, phase.app
        assert set(phase.stages_ms) == set(STAGES), phase.app
        assert len(phase.in_process_s) == len(phase.e2e_s) == 300, phase.app
    first, second = scorer[1], scorer[3]
    assert first.worker_ready_s is not None  # the control said it was ready, once
    assert second.worker_ready_s is None
    assert first.explanations == second.explanations == {}  # and wrote nothing
    assert "CONTROL: a do-nothing process in the worker's place" in report.report

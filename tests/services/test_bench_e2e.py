"""``bench e2e`` on the real broker and Redis: every offered transaction is measured.

The figures themselves are never asserted (they depend on the host); what is
checked is that each phase accounts for every transaction it offered, through
the echo floor and through the real scorer, and that the report carries the
scorer's in-process stages and the targets.
"""

from __future__ import annotations

import pytest

from contracts.settings import Settings
from services.bench.beside_llm import ALONE, BESIDE
from services.bench.e2e import STAGES, E2EConfig, run_e2e_bench
from services.kafka.admin import list_topics

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
    assert "scorer in-process time per stage, as each transaction's micro-batch" in report.report


def test_the_control_runs_rounds_alone_and_beside_a_do_nothing_process_on_fresh_topics(
    scorer_settings: Settings,
) -> None:
    config = E2EConfig(
        rates=(300,), seconds=1.0, partitions=2, llm_worker=True, control=True, rounds=2
    )
    report = run_e2e_bench(scorer_settings, config, progress=False)

    scorer = [(p.app, p.round) for p in report.phases if p.app != "echo"]
    # Round 1 alone first, round 2 beside first.
    assert scorer == [("scorer", None), (ALONE, 1), (BESIDE, 1), (BESIDE, 2), (ALONE, 2)]
    for phase in report.phases[1:]:
        # Outputs are counted on a tx id's first arrival only: 300 each means each
        # phase had transactions of its own.
        assert phase.received == phase.sent == 300, phase.app
        assert set(phase.stages_ms) == set(STAGES), phase.app
        assert all(len(phase.stage_s[s]) == len(phase.e2e_s) == 300 for s in STAGES)
    beside = [p for p in report.phases if p.app == BESIDE]
    assert all(p.worker_ready_s is not None for p in beside)  # the control said it was ready
    assert all(p.explanations == {} for p in beside)  # and wrote nothing
    assert "CONTROL: a do-nothing process in the worker's place" in report.report
    assert "every round pooled" in report.report
    # Every topic the run made is gone again: the main ones and each round's.
    left = [t for t in list_topics(scorer_settings.kafka) if t.startswith("bench-")]
    assert left == []

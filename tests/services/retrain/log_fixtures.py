"""Fixtures of the retraining tests: a real decision log, made by really scoring a simulation.

``decision_log`` (session) -> ``ArchivedLog``
    A simulation that continues where the scorer fixtures' training history
    ends (other customers, 21 days, 2 % fraud) goes through the real scoring
    pipeline (memory feature store, the session's champion and cold-start
    model, the packaged rules), labels fed to the feature store as they
    become known, exactly as the label consumer does live. Every decision and
    label is appended to a decision log by the archive writer, the same code
    the archiver runs; every 50th batch is archived twice, as a redelivery
    after a crash would. Tests copy it before changing it.

Test modules say ``pytest_plugins = ["tests.services.scorer_fixtures",
"tests.services.retrain.log_fixtures"]`` and import their helpers from
``tests.services.retrain.helpers`` (a plugin module must not be imported first).
"""

from __future__ import annotations

import pytest

from contracts.events import Decision, Label, Transaction
from services.simulator import SimulatorConfig, simulate
from tests.services.retrain.helpers import ArchivedLog, write_log
from tests.services.scorer_fixtures import TRAINING_HISTORY
from tests.services.scoring.helpers import TrainedScorer

__all__ = ["LOG_HISTORY", "decision_log_fixture"]

DAY_MS = 86_400_000
#: The live traffic after the champion was trained: a new population, later in time.
LOG_HISTORY = SimulatorConfig(
    seed=11,
    customers=1000,
    days=21,
    fraud_rate=0.02,
    start_ms=TRAINING_HISTORY.start_ms + (TRAINING_HISTORY.days or 0) * DAY_MS,
)
_BATCH = 256
_ARCHIVE_BATCH = 2000


@pytest.fixture(name="decision_log", scope="session")
def decision_log_fixture(
    trained_scorer: TrainedScorer, tmp_path_factory: pytest.TempPathFactory
) -> ArchivedLog:
    from feature_store import FEATURE_NAMES, FeatureEngine, MemoryOnlineStore
    from rules import RuleSetHolder, rule_vocabulary
    from services.scoring.models import ModelSet
    from services.scoring.pipeline import ScoringPipeline
    from services.scoring.wiring import DEFAULT_RULES

    engine = FeatureEngine(MemoryOnlineStore())
    pipeline = ScoringPipeline(
        engine,
        ModelSet(trained_scorer.mlflow),
        RuleSetHolder(DEFAULT_RULES, rule_vocabulary(FEATURE_NAMES)),
    )
    root = tmp_path_factory.mktemp("decision-log") / "log"
    pending: list[Transaction] = []
    decided: list[Decision] = []
    known: list[Label] = []
    counts = {"decisions": 0, "repeated": 0, "labels": 0, "fraud": 0, "writes": 0}

    def archive() -> None:
        """One archiver batch; every 5th is archived twice (redelivered after a crash)."""
        write_log(root, decided, known, offset=counts["decisions"])
        counts["writes"] += 1
        if counts["writes"] % 5 == 0:
            write_log(root, decided, [], offset=counts["decisions"])
            counts["repeated"] += len(decided)
        counts["decisions"] += len(decided)
        counts["labels"] += len(known)
        decided.clear()
        known.clear()

    def score() -> None:
        if pending:
            decided.extend(pipeline.score(pending).decisions)
            pending.clear()

    for item in simulate(LOG_HISTORY):
        event = item.event
        if isinstance(event, Transaction):
            pending.append(event)
            counts["fraud"] += item.is_fraud
            if len(pending) >= _BATCH:
                score()
        elif isinstance(event, Label):
            # As live: a label counts for the transactions that come after it, not before.
            score()
            engine.apply_labels([event])
            known.append(event)
        if len(decided) + len(known) >= _ARCHIVE_BATCH:
            archive()
    score()
    archive()
    return ArchivedLog(
        root, counts["decisions"], counts["repeated"], counts["labels"], counts["fraud"]
    )

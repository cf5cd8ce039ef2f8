"""The scorer's batched hot path gives exactly the decisions of the plain per-row path.

``reference_score`` below is the pipeline as it was before the hot path was
batched (one full ``build_context`` and one ``decide`` per row, features dict
by ``math.isnan``, one ``Decision`` at a time), kept here as the specification.
Both run over their own memory store on the same stream, so they see the same
feature rows; every decision must match field for field and byte for byte
(apart from the decision time and the stage timings).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import pytest

from contracts.codec import encode
from contracts.events import Decision, Transaction
from feature_store import FEATURE_NAMES, FeatureEngine, MemoryOnlineStore
from rules import RuleSetHolder, build_context, decide, rule_vocabulary
from rules.lists.base import ListSnapshot
from rules.lists.memory import MemoryListStore
from rules.lists.refresh import RefreshingLists
from services.scoring.models import ModelSet
from services.scoring.pipeline import ScoringPipeline, _thresholds
from services.scoring.wiring import DEFAULT_RULES
from services.simulator import SimulatorConfig
from tests.services.scoring.helpers import T0, TrainedScorer, card_payments, simulated_transactions

#: The scorer fixtures (a plugin, so the session-scoped models are trained once).
pytest_plugins = ["tests.services.scorer_fixtures"]

pytestmark = pytest.mark.slow


def reference_score(
    engine: FeatureEngine,
    models: ModelSet,
    holder: RuleSetHolder,
    snapshot: ListSnapshot | None,
    transactions: Sequence[Transaction],
) -> list[Decision]:
    import numpy as np

    rows = engine.process(transactions)
    champion, champion_cols = models.champion
    cold = models.cold_start
    matrix = np.array([row.values for row in rows], dtype=np.float32)
    cold_mask = np.array([row.cold_start for row in rows], dtype=bool)
    scores = np.empty(len(rows), dtype=np.float32)
    warm = ~cold_mask if cold is not None else np.ones(len(rows), dtype=bool)
    if warm.any():
        scores[warm] = champion.predict(np.ascontiguousarray(matrix[warm][:, champion_cols]))
    if cold is not None and cold_mask.any():
        scores[cold_mask] = cold[0].predict(np.ascontiguousarray(matrix[cold_mask][:, cold[1]]))
    rule_set = holder.current
    feature_maps = [dict(zip(FEATURE_NAMES, row.values, strict=True)) for row in rows]
    outcomes = rule_set.evaluate_batch(
        [
            build_context(tx, features, score=float(s), cold_start=bool(c and cold is not None))
            for tx, features, s, c in zip(
                transactions, feature_maps, scores, cold_mask, strict=True
            )
        ],
        snapshot,
    )
    thresholds = _thresholds(champion, cold[0] if cold is not None else None)
    policies = [
        decide(float(s), thresholds, cold_start=bool(c and cold is not None), outcome=o)
        for s, c, o in zip(scores, cold_mask, outcomes, strict=True)
    ]
    explain = [i for i, p in enumerate(policies) if p.action != "allow" and warm[i]]
    contributions = {}
    if explain:
        explained = champion.explain(matrix[explain][:, champion_cols], top_k=5)
        contributions = dict(zip(explain, explained, strict=True))
    decisions = []
    for i, tx in enumerate(transactions):
        model = cold[0] if (cold is not None and cold_mask[i]) else champion
        top = contributions.get(i, [])
        shap = [f"F_{c.feature}" for c in top if c.contribution > 0][:3]
        decisions.append(
            Decision(
                tx_id=tx.tx_id,
                card_id=tx.card_id,
                customer_id=tx.customer_id,
                event_time_ms=tx.event_time_ms,
                decided_at_ms=T0,
                action=policies[i].action,
                score=min(max(float(scores[i]), 0.0), 1.0),
                reasons=[*policies[i].reasons, *shap],
                model_version=f"{model.name}/{model.version}",
                rule_set_version=outcomes[i].rule_set_version,
                cold_start=bool(cold_mask[i]),
                features={k: (None if math.isnan(v) else v) for k, v in feature_maps[i].items()},
                top_contributions=top,
                shadow_rules=[hit.rule_id for hit in outcomes[i].hits if hit.shadow],
                tags=list(outcomes[i].tags),
            )
        )
    return decisions


def _stream() -> list[Transaction]:
    simulated = [
        item.event
        for item in simulated_transactions(_SIMULATION)
        if isinstance(item.event, Transaction)
    ]
    # Payments that rules decide: blocked country and BIN, an allow-listed card, a tag.
    ruled = card_payments(3, 2, tag="kp", country="KP", start_ms=simulated[-1].event_time_ms)
    ruled += card_payments(2, 2, tag="bin", card_bin="535522", start_ms=ruled[-1].event_time_ms)
    ruled += card_payments(2, 3, tag="staff", start_ms=ruled[-1].event_time_ms, country="IR")
    ruled += card_payments(2, 2, tag="mcc", mcc="7995", start_ms=ruled[-1].event_time_ms)
    return [*simulated, *ruled]


_SIMULATION = SimulatorConfig(seed=17, customers=400, days=4, fraud_rate=0.05)


def _same_decision(fast: Decision, plain: Decision) -> None:
    fast = msgspec.structs.replace(fast, decided_at_ms=T0, timings_ms={})
    assert fast == plain
    assert encode(fast) == encode(plain)


def test_batched_pipeline_decides_exactly_as_the_plain_path(trained_scorer: TrainedScorer) -> None:
    models = ModelSet(trained_scorer.mlflow)
    holder = RuleSetHolder(DEFAULT_RULES, rule_vocabulary(FEATURE_NAMES))
    lists = RefreshingLists(
        MemoryListStore({"blocked_bins": ["535522"], "allowed_cards": ["card-0", "card-1"]})
    )
    # One feature chunk per batch: the reference predicts on the whole batch, and
    # small model batches take a walk that agrees with XGBoost only to float32
    # rounding (chunked scoring is compared on its own below).
    pipeline = ScoringPipeline(
        FeatureEngine(MemoryOnlineStore("a")), models, holder, lists, feature_chunk=256
    )
    reference_engine = FeatureEngine(MemoryOnlineStore("b"))
    stream = _stream()
    compared = 0
    seen: dict[str, int] = {"flag": 0, "block": 0, "cold": 0, "shadow": 0, "rule": 0}
    for start in range(0, len(stream), 256):
        batch = stream[start : start + 256]
        scored = pipeline.score(batch)
        plain = reference_score(reference_engine, models, holder, lists.current(), batch)
        for fast, expected in zip(scored.decisions, plain, strict=True):
            _same_decision(fast, expected)
            assert set(fast.timings_ms) == {"features", "model", "rules", "explain", "total"}
            seen["flag"] += fast.action == "flag"
            seen["block"] += fast.action == "block"
            seen["cold"] += fast.cold_start
            seen["shadow"] += bool(fast.shadow_rules)
            seen["rule"] += any(r.startswith("R_") for r in fast.reasons)
            compared += 1
    assert compared == len(stream)
    # The comparison covered every branch that matters.
    assert all(count > 0 for count in seen.values()), seen


def test_an_empty_batch_decides_nothing(trained_scorer: TrainedScorer) -> None:
    pipeline = ScoringPipeline(
        FeatureEngine(MemoryOnlineStore()),
        ModelSet(trained_scorer.mlflow),
        RuleSetHolder(DEFAULT_RULES, rule_vocabulary(FEATURE_NAMES)),
    )
    assert pipeline.score([]).decisions == []


def test_chunked_scoring_decides_as_whole_batches(trained_scorer: TrainedScorer) -> None:
    """Chunks of 64 (sent to the store ahead, scored one by one) against one
    chunk per batch: the same decisions, scores equal to float32 rounding."""
    models = ModelSet(trained_scorer.mlflow)
    holder = RuleSetHolder(DEFAULT_RULES, rule_vocabulary(FEATURE_NAMES))

    def pipeline(prefix: str, chunk: int) -> ScoringPipeline:
        engine = FeatureEngine(MemoryOnlineStore(prefix))
        return ScoringPipeline(engine, models, holder, feature_chunk=chunk)

    chunked, whole = pipeline("a", 64), pipeline("b", 256)
    stream = _stream()
    explained = 0
    for start in range(0, len(stream), 256):
        batch = stream[start : start + 256]
        for got, expected in zip(
            chunked.score(batch).decisions, whole.score(batch).decisions, strict=True
        ):
            assert got.score == pytest.approx(expected.score, abs=1e-6)
            same = msgspec.structs.replace(
                got, score=expected.score, decided_at_ms=T0, timings_ms={}
            )
            _same_decision(same, msgspec.structs.replace(expected, decided_at_ms=T0, timings_ms={}))
            explained += bool(got.top_contributions)
    assert explained > 0


def test_features_sent_a_batch_ahead_decide_as_features_fetched_on_the_spot(
    trained_scorer: TrainedScorer,
) -> None:
    """``score(batch, sent=send_features(batch))`` (a backlog: one model call for
    the batch) against plain ``score(batch)`` (chunk by chunk): the same decisions."""
    models = ModelSet(trained_scorer.mlflow)
    holder = RuleSetHolder(DEFAULT_RULES, rule_vocabulary(FEATURE_NAMES))

    def pipeline(prefix: str) -> ScoringPipeline:
        engine = FeatureEngine(MemoryOnlineStore(prefix))
        return ScoringPipeline(engine, models, holder, feature_chunk=64)

    ahead, plain = pipeline("a"), pipeline("b")
    stream = _stream()
    compared = 0
    for start in range(0, len(stream), 256):
        batch = stream[start : start + 256]
        sent = ahead.send_features(batch)
        for got, expected in zip(
            ahead.score(batch, sent=sent).decisions, plain.score(batch).decisions, strict=True
        ):
            assert got.score == pytest.approx(expected.score, abs=1e-6)
            same = msgspec.structs.replace(
                got, score=expected.score, decided_at_ms=T0, timings_ms={}
            )
            _same_decision(same, msgspec.structs.replace(expected, decided_at_ms=T0, timings_ms={}))
            compared += 1
    assert compared == len(stream)

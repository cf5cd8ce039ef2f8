"""One micro-batch through the scorer: a plain object over (store, models, rules).

``ScoringPipeline.score`` is the whole decision logic and talks to no broker,
so unit tests run it on the memory store; the Kafka service around it stays
thin. Stages and their timings (milliseconds, per batch, in every decision):

    features   one store round trip: update windows, read vectors (idempotent)
    model      champion on warm rows, cold-start model on new cards, in place
    rules      the active rule set over transaction + features + score
    explain    exact tree SHAP, only for flagged / blocked warm rows
    total      the batch end to end (decode is added by the service)

Policy (rules win): a rule ``allow`` override allows; a rule ``block`` blocks;
otherwise the score against the serving model's thresholds decides, a rule
``flag`` raising allow to flag. Decisions carry the reason codes, the top SHAP
features as ``F_<feature>`` reasons, the model and rule-set versions, and the
feature vector exactly as served.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from contracts.events import Decision, FeatureContribution, Transaction
from feature_store import FEATURE_NAMES, FeatureEngine, FeatureRow
from models.scorer_model import ScoringModel
from rules import RuleOutcome, RuleSetHolder, Thresholds, build_context, decide
from rules.lists.base import ListSnapshot

__all__ = ["DEGRADED_REASON", "ModelSource", "ScoredBatch", "ScoringPipeline"]

DEGRADED_REASON = "D_FEATURES_UNAVAILABLE"
_TOP_REASONS = 3  # how many SHAP features become reason codes


class ModelSource(Protocol):
    """What the pipeline needs of the served models (``services.scoring.models.ModelSet``)."""

    @property
    def champion(self) -> tuple[ScoringModel, NDArray[np.intp]]: ...

    @property
    def cold_start(self) -> tuple[ScoringModel, NDArray[np.intp]] | None: ...


class ListSource(Protocol):
    def current(self) -> ListSnapshot: ...


@dataclass(frozen=True)
class ScoredBatch:
    decisions: list[Decision]
    duplicates: int
    stage_ms: dict[str, float]


def _now_ms() -> int:
    return int(time.time() * 1000)


class ScoringPipeline:
    def __init__(
        self,
        engine: FeatureEngine,
        models: ModelSource,
        rules: RuleSetHolder,
        lists: ListSource | None = None,
        *,
        top_k: int = 5,
    ) -> None:
        self.engine = engine
        self.models = models
        self.rules = rules
        self.lists = lists
        self.top_k = top_k

    def score(self, transactions: Sequence[Transaction]) -> ScoredBatch:
        started = time.perf_counter()
        rows = self.engine.process(transactions)
        after_features = time.perf_counter()

        champion, champion_cols = self.models.champion
        cold = self.models.cold_start
        matrix = np.array([row.values for row in rows], dtype=np.float32)
        cold_mask = np.array([row.cold_start for row in rows], dtype=bool)
        scores = np.empty(len(rows), dtype=np.float32)
        warm = ~cold_mask if cold is not None else np.ones(len(rows), dtype=bool)
        if warm.any():
            scores[warm] = champion.predict(np.ascontiguousarray(matrix[warm][:, champion_cols]))
        if cold is not None and cold_mask.any():
            cold_model, cold_cols = cold
            scores[cold_mask] = cold_model.predict(
                np.ascontiguousarray(matrix[cold_mask][:, cold_cols])
            )
        after_model = time.perf_counter()

        rule_set = self.rules.current
        snapshot = self.lists.current() if self.lists is not None else None
        feature_maps = [dict(zip(FEATURE_NAMES, row.values, strict=True)) for row in rows]
        contexts = [
            build_context(tx, features, score=float(score), cold_start=bool(is_cold))
            for tx, features, score, is_cold in zip(
                transactions, feature_maps, scores, cold_mask & (cold is not None), strict=True
            )
        ]
        outcomes = rule_set.evaluate_batch(contexts, snapshot)
        after_rules = time.perf_counter()

        thresholds = _thresholds(champion, cold[0] if cold is not None else None)
        policies = [
            decide(float(s), thresholds, cold_start=bool(c and cold is not None), outcome=o)
            for s, c, o in zip(scores, cold_mask, outcomes, strict=True)
        ]
        explain_rows = [i for i, p in enumerate(policies) if p.action != "allow" and warm[i]]
        contributions: dict[int, list[FeatureContribution]] = {}
        if explain_rows:
            explained = champion.explain(matrix[explain_rows][:, champion_cols], top_k=self.top_k)
            contributions = dict(zip(explain_rows, explained, strict=True))
        finished = time.perf_counter()

        stage_ms = {
            "features": (after_features - started) * 1000,
            "model": (after_model - after_features) * 1000,
            "rules": (after_rules - after_model) * 1000,
            "explain": (finished - after_rules) * 1000,
            "total": (finished - started) * 1000,
        }
        decided_at = _now_ms()
        decisions = [
            _decision(
                tx,
                row,
                features,
                float(scores[i]),
                policies[i].action,
                policies[i].reasons,
                outcomes[i],
                contributions.get(i, []),
                model=cold[0] if (cold is not None and cold_mask[i]) else champion,
                cold_start=bool(cold_mask[i]),
                decided_at=decided_at,
                stage_ms=stage_ms,
            )  # fmt: skip
            for i, (tx, row, features) in enumerate(
                zip(transactions, rows, feature_maps, strict=True)
            )
        ]
        return ScoredBatch(decisions, sum(row.duplicate for row in rows), stage_ms)

    def score_degraded(self, transactions: Sequence[Transaction]) -> ScoredBatch:
        """Rules only, on what the transaction itself says: the features store is down."""
        started = time.perf_counter()
        rule_set = self.rules.current
        snapshot = self.lists.current() if self.lists is not None else None
        champion, _ = self.models.champion
        thresholds = _thresholds(champion, None)
        outcomes = rule_set.evaluate_batch(
            [build_context(tx, {}, score=None, cold_start=False) for tx in transactions], snapshot
        )
        stage_ms = {"rules": (time.perf_counter() - started) * 1000}
        stage_ms["total"] = stage_ms["rules"]
        decided_at = _now_ms()
        decisions = []
        for tx, outcome in zip(transactions, outcomes, strict=True):
            policy = decide(None, thresholds, outcome=outcome)
            decisions.append(
                Decision(
                    tx_id=tx.tx_id,
                    card_id=tx.card_id,
                    customer_id=tx.customer_id,
                    event_time_ms=tx.event_time_ms,
                    decided_at_ms=decided_at,
                    action=policy.action,
                    score=0.0,
                    reasons=[*policy.reasons, DEGRADED_REASON],
                    model_version="none",
                    rule_set_version=outcome.rule_set_version,
                    degraded=True,
                    shadow_rules=_shadow(outcome),
                    tags=list(outcome.tags),
                    timings_ms=dict(stage_ms),
                )  # fmt: skip
            )
        return ScoredBatch(decisions, 0, stage_ms)


def _thresholds(champion: ScoringModel, cold: ScoringModel | None) -> Thresholds:
    t = champion.thresholds
    if cold is None:
        return Thresholds(flag=t.flag, block=t.block)
    c = cold.thresholds
    return Thresholds(t.flag, t.block, cold_start_flag=c.flag, cold_start_block=c.block)


def _shadow(outcome: RuleOutcome) -> list[str]:
    return [hit.rule_id for hit in outcome.hits if hit.shadow]


def _decision(
    tx: Transaction,
    row: FeatureRow,
    features: dict[str, float],
    score: float,
    action: str,
    reasons: tuple[str, ...],
    outcome: RuleOutcome,
    contributions: list[FeatureContribution],
    *,
    model: ScoringModel,
    cold_start: bool,
    decided_at: int,
    stage_ms: dict[str, float],
) -> Decision:
    shap_reasons = [f"F_{c.feature}" for c in contributions if c.contribution > 0][:_TOP_REASONS]
    return Decision(
        tx_id=tx.tx_id,
        card_id=tx.card_id,
        customer_id=tx.customer_id,
        event_time_ms=tx.event_time_ms,
        decided_at_ms=decided_at,
        action=action,  # type: ignore[arg-type]
        score=min(max(score, 0.0), 1.0),
        reasons=[*reasons, *shap_reasons],
        model_version=f"{model.name}/{model.version}",
        rule_set_version=outcome.rule_set_version,
        cold_start=cold_start,
        features={k: (None if math.isnan(v) else v) for k, v in features.items()},
        top_contributions=contributions,
        shadow_rules=_shadow(outcome),
        tags=list(outcome.tags),
        timings_ms=dict(stage_ms),
    )

"""Champion against a freshly trained challenger on the same recent slice, with a significance test.

Both models score the same labelled rows (the most recent slice of the
decision log, labels as known at the cutoff) and get the same report as
``fraudstream train`` prints (``models.metrics.evaluate_scores``), each with
the thresholds it would serve. The difference in average precision is then
tested with a paired bootstrap over cards (``models.significance``).

Policy (``ChallengePolicy``, defaults stated there and printed with the
verdict): the challenger is promoted only when

0. the slice holds at least ``min_fraud_rows`` known fraud rows (a bootstrap
   over a handful of positives is not evidence of anything),
1. its PR-AUC beats the champion's by at least ``min_average_precision_gain``,
2. the one-sided bootstrap p-value of that difference is below ``alpha``, and
3. its recall at the operating FPR is not lower by more than ``max_recall_drop``

(the same gain and recall rules as ``models.promote``, plus the test). With
no champion, the challenger is promoted. The champion must not have trained on
the slice: its label cutoff must not be after the slice starts
(``PromotionError`` otherwise). A slice whose known labels are all of one
class (a quiet period: no fraud confirmed yet) keeps the champion, with both
reports and no test: it is rule 0 at its extreme, not an error of the job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.bundle import ModelBundle
from models.exceptions import PromotionError
from models.frame import LABEL_COLUMN, feature_matrix
from models.metrics import EvaluationReport, evaluate_scores
from models.promote import EvaluationWindow, refuse_overlap
from models.report import format_report
from models.scorer_model import ScoringModel
from models.significance import PairedBootstrap, paired_bootstrap_average_precision
from models.split import DAY_MS

__all__ = ["ChallengePolicy", "ChallengeResult", "challenge"]


@dataclass(frozen=True)
class ChallengePolicy:
    min_average_precision_gain: float = 0.005
    alpha: float = 0.05
    max_recall_drop: float = 0.0
    recall_fpr: float = 0.01
    bootstrap_rounds: int = 1000
    min_fraud_rows: int = 10
    seed: int = 7

    def describe(self) -> str:
        return (
            f"promote when PR-AUC gain >= {self.min_average_precision_gain:g} and "
            f"p < {self.alpha:g} (paired bootstrap over cards, {self.bootstrap_rounds} rounds) "
            f"and recall @ FPR {self.recall_fpr:g} drops by at most {self.max_recall_drop:g}, "
            f"on a slice with at least {self.min_fraud_rows} fraud rows"
        )


@dataclass(frozen=True)
class ChallengeResult:
    challenger: EvaluationReport
    champion: EvaluationReport | None
    champion_version: str | None
    significance: PairedBootstrap | None
    promote: bool
    reason: str
    policy: ChallengePolicy

    def table(self, title: str = "") -> str:
        """The ``fraudstream train`` table with the champion and the challenger side by side."""
        reports = [r for r in (self.champion, self.challenger) if r is not None]
        return format_report(reports, title=title)

    def metrics(self) -> dict[str, float]:
        """Flat numbers for MLflow: ``challenger.*``, ``champion.*`` and the test's."""
        out = {f"challenger.{k}": v for k, v in self.challenger.metrics().items()}
        if self.champion is not None:
            out |= {f"champion.{k}": v for k, v in self.champion.metrics().items()}
        if self.significance is not None:
            s = self.significance
            out |= {
                "average_precision_difference": s.observed_difference,
                "difference_ci_low": s.ci_low,
                "difference_ci_high": s.ci_high,
                "p_value": s.p_value,
            }
        out["promote"] = float(self.promote)
        return out


def challenge(
    challenger: ModelBundle,
    champion: ScoringModel | None,
    rows: pd.DataFrame,
    *,
    window: EvaluationWindow,
    policy: ChallengePolicy | None = None,
    card_k: int = 50,
    challenger_label: str = "challenger",
) -> ChallengeResult:
    """Score ``rows`` (labelled, inside ``window``) with both models and judge by ``policy``."""
    policy = policy or ChallengePolicy()
    fraud = rows[LABEL_COLUMN].to_numpy(dtype=bool)
    one_class = not fraud.any() or fraud.all()
    if one_class and champion is None:
        raise PromotionError(
            f"the recent slice has {len(rows)} rows and {int(fraud.sum())} fraud: "
            "both classes are needed to judge a first model"
        )
    new_scores = challenger.predictor.predict(feature_matrix(rows, challenger.feature_names))
    days = (window.end_ms - window.start_ms) / DAY_MS
    new_report = _report(challenger_label, rows, new_scores, challenger, policy, card_k, days)
    if champion is None:
        return ChallengeResult(new_report, None, None, None, True, "no champion yet", policy)

    try:
        refuse_overlap(champion, window)
    except PromotionError as exc:
        raise PromotionError(
            f"{exc} (a champion trained on this slice's time: judge on a later slice, "
            "i.e. a later --cutoff or fewer --test-days)"
        ) from exc
    missing = [name for name in champion.feature_names if name not in rows.columns]
    if missing:
        raise PromotionError(
            f"champion v{champion.version} reads {len(missing)} feature(s) the decision log "
            f"lacks (first: {missing[0]}): it cannot be judged on this slice"
        )
    old_scores = champion.predict(feature_matrix(rows, champion.feature_names))
    label = f"champion v{champion.version}"
    old_report = _report(label, rows, old_scores, champion.bundle, policy, card_k, days)
    if one_class:
        reason = (
            f"too few fraud rows to judge: the recent slice has {len(rows)} rows and "
            f"{int(fraud.sum())} fraud (both classes are needed to compare models)"
        )
        return ChallengeResult(
            new_report, old_report, champion.version, None, False, reason, policy
        )
    significance = paired_bootstrap_average_precision(
        fraud,
        old_scores,
        new_scores,
        groups=rows["card_id"].to_numpy(),
        rounds=policy.bootstrap_rounds,
        # The two-sided 1 - 2*alpha interval excludes 0 exactly when the one-sided
        # p-value is below alpha, so the printed interval and the verdict agree.
        confidence=1.0 - 2.0 * policy.alpha,
        seed=policy.seed,
    )
    promote, reason = _judge(new_report, old_report, significance, policy)
    return ChallengeResult(
        new_report, old_report, champion.version, significance, promote, reason, policy
    )


def _report(
    label: str,
    rows: pd.DataFrame,
    scores: np.ndarray,
    bundle: ModelBundle,
    policy: ChallengePolicy,
    card_k: int,
    days: float,
) -> EvaluationReport:
    return evaluate_scores(
        label,
        rows,
        scores,
        bundle.thresholds,
        days=days,
        recall_fpr=policy.recall_fpr,
        card_k=card_k,
    )


def _judge(
    new: EvaluationReport,
    old: EvaluationReport,
    test: PairedBootstrap,
    policy: ChallengePolicy,
) -> tuple[bool, str]:
    ap_new, ap_old = new.average_precision or 0.0, old.average_precision or 0.0
    recall_new, recall_old = new.recall_at_fpr or 0.0, old.recall_at_fpr or 0.0
    gain, drop = ap_new - ap_old, recall_old - recall_new
    facts = (
        f"PR-AUC {ap_new:.4f} vs {ap_old:.4f} ({gain:+.4f}, need "
        f"+{policy.min_average_precision_gain:g}); p = {test.p_value:.4f} (need < "
        f"{policy.alpha:g}); recall @ FPR {policy.recall_fpr:g} {recall_new:.4f} vs "
        f"{recall_old:.4f} (may drop {policy.max_recall_drop:g})"
    )
    if new.fraud_rows < policy.min_fraud_rows:
        return False, (
            f"too few fraud rows to judge ({new.fraud_rows} < {policy.min_fraud_rows}): {facts}"
        )
    if gain < policy.min_average_precision_gain:
        return False, f"not better enough: {facts}"
    if test.p_value >= policy.alpha:
        return False, f"better, but not significantly: {facts}"
    if drop > policy.max_recall_drop:
        return False, f"catches less at the operating point: {facts}"
    return True, f"better: {facts}"

"""``fraudstream promote`` as a function: challenger against champion on the same later slice.

Both versions score the same rows (for the cold-start model: the slice's
cold-start rows, or all its rows when it has too few), with labels as known
at the evaluation time. The challenger takes the ``champion`` alias only when
the policy says it is better: average precision higher by at least ``min_average_precision_gain``
*and* recall at the operating FPR not lower by more than ``max_recall_drop``
(a model that ranks better overall but catches less at the threshold the
operation runs is not an improvement). With no champion yet, the challenger
is promoted.

The slice must start at or after both models' label cutoff, i.e. contain no
row either model trained on or could have known a label for; otherwise the
comparison is refused with ``PromotionError``: an unfair comparison is worse
than none.

On promotion, ``champion`` moves to the challenger's version, the old
champion keeps the alias ``previous-champion`` (one-command rollback), and
``challenger`` is removed. The verdict and its reason are tagged on the
challenger's version either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from contracts.settings import MlflowSettings
from models.exceptions import PromotionError
from models.frame import LABEL_COLUMN, check_frame_keys, check_label_frame, feature_matrix
from models.labels import label_evaluation_rows
from models.metrics import average_precision, recall_at_fpr, roc_auc
from models.registry import ModelRegistry
from models.scorer_model import ScoringModel, load_scoring_model
from models.split import DAY_MS

__all__ = [
    "EvaluationWindow",
    "PromotionPolicy",
    "PromotionResult",
    "SliceScore",
    "promote",
    "record_verdict",
    "refuse_overlap",
]

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous-champion"


@dataclass(frozen=True)
class PromotionPolicy:
    min_average_precision_gain: float = 0.005
    max_recall_drop: float = 0.0
    recall_fpr: float = 0.01
    #: Cold-start models are compared on the slice's cold-start rows when there are
    #: at least this many, else on all its rows (as in training, ``models.train``).
    min_cold_start_rows: int = 200


@dataclass(frozen=True)
class EvaluationWindow:
    """Rows with ``start_ms <= event_time_ms < end_ms``, labels known at ``evaluate_at_ms``."""

    start_ms: int
    end_ms: int
    #: None = every label in the label frame (the slice has matured).
    evaluate_at_ms: int | None = None

    @classmethod
    def last_days(cls, frame: pd.DataFrame, days: float) -> EvaluationWindow:
        """The last ``days`` of ``frame``."""
        end = int(frame["event_time_ms"].iloc[-1]) + 1
        return cls(start_ms=end - round(days * DAY_MS), end_ms=end)


@dataclass(frozen=True)
class SliceScore:
    version: str
    rows: int
    fraud_rows: int
    average_precision: float | None
    recall_at_fpr: float | None
    roc_auc: float | None


@dataclass(frozen=True)
class PromotionResult:
    name: str
    promoted: bool
    reason: str
    challenger: SliceScore
    champion: SliceScore | None
    dry_run: bool = False


def promote(
    settings: MlflowSettings,
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    window: EvaluationWindow,
    *,
    cold_start: bool = False,
    name: str | None = None,
    policy: PromotionPolicy | None = None,
    dry_run: bool = False,
    registry: ModelRegistry | None = None,
) -> PromotionResult:
    """Compare ``challenger`` with ``champion`` of ``name`` on ``window``; move the alias if better.

    ``name`` defaults to the scorer's registered model, or the cold-start one
    with ``cold_start=True``. ``dry_run`` judges without touching the registry.
    """
    policy = policy or PromotionPolicy()
    registry = registry or ModelRegistry(settings)
    name = name or (settings.cold_start_model if cold_start else settings.registered_model)
    check_frame_keys(frame)
    check_label_frame(labels)
    challenger_version = registry.require_alias(name, CHALLENGER)
    champion_version = registry.alias_version(name, CHAMPION)
    challenger = load_scoring_model(
        settings, name=name, version=challenger_version, registry=registry
    )
    champion = (
        None
        if champion_version is None
        else load_scoring_model(settings, name=name, version=champion_version, registry=registry)
    )
    rows = _slice(frame, labels, window, cold_start=cold_start, min_cold=policy.min_cold_start_rows)
    for model in (challenger, champion):
        if model is not None:
            refuse_overlap(model, window)
    challenger_score = _score(challenger, rows, policy)
    champion_score = None if champion is None else _score(champion, rows, policy)
    promoted, reason = _judge(challenger_score, champion_score, policy)

    if not dry_run:
        record_verdict(
            registry, name, challenger_version, champion_version, promoted=promoted, reason=reason
        )
    return PromotionResult(
        name=name,
        promoted=promoted,
        reason=reason,
        challenger=challenger_score,
        champion=champion_score,
        dry_run=dry_run,
    )


def record_verdict(
    registry: ModelRegistry,
    name: str,
    challenger_version: str,
    champion_version: str | None,
    *,
    promoted: bool,
    reason: str,
) -> None:
    """Tag the verdict on the challenger's version; on promotion, move the aliases.

    ``champion`` -> the challenger, ``previous-champion`` -> the old champion
    (one-command rollback), ``challenger`` removed. Shared by ``promote`` and
    retraining (``models.retrain``), so both move aliases the same way.

    The order makes every step's failure one a rerun completes: the rollback
    target first, then ``champion``, the tag, and ``challenger`` last (a rerun
    that finds challenger == champion only finishes that, keeping the tag).
    Just before moving anything the aliases are read again, and a verdict
    reached against a champion or challenger that another writer (a second
    ``promote``, a retrain) has moved since is refused: MLflow has no
    compare-and-set, so this narrows the race to the moment between the read
    and the writes rather than the whole judgement.
    """
    if champion_version == challenger_version:
        _remove_challenger(registry, name, challenger_version)  # finishing an earlier run
        return
    verdict = "promoted" if promoted else "refused"
    if promoted:
        _refuse_if_moved(registry, name, challenger_version, champion_version)
        if champion_version is not None:
            registry.set_alias(name, PREVIOUS, champion_version)
        registry.set_alias(name, CHAMPION, challenger_version)
    registry.set_version_tag(name, challenger_version, "promotion", f"{verdict}: {reason}")
    if promoted:
        _remove_challenger(registry, name, challenger_version)


def _refuse_if_moved(
    registry: ModelRegistry, name: str, challenger_version: str, champion_version: str | None
) -> None:
    now = {alias: registry.alias_version(name, alias) for alias in (CHAMPION, CHALLENGER)}
    judged = {CHAMPION: champion_version, CHALLENGER: challenger_version}
    moved = [
        f"{alias} v{judged[alias]} -> v{now[alias]}"
        for alias in judged
        if now[alias] != judged[alias]
    ]
    if moved:
        raise PromotionError(
            f"{name}: {', '.join(moved)} while this verdict was reached (another promote "
            "or retrain ran): nothing moved; judge again"
        )


def _remove_challenger(registry: ModelRegistry, name: str, version: str) -> None:
    """Remove ``challenger`` if it still points at ``version`` (not someone else's newer one)."""
    if registry.alias_version(name, CHALLENGER) == version:
        registry.delete_alias(name, CHALLENGER)


def _slice(
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    window: EvaluationWindow,
    *,
    cold_start: bool,
    min_cold: int,
) -> pd.DataFrame:
    if window.end_ms <= window.start_ms:
        raise PromotionError("the evaluation window is empty")
    times = frame["event_time_ms"]
    rows = frame.loc[(times >= window.start_ms) & (times < window.end_ms)]
    cold = rows["cold_start"].to_numpy(dtype=bool)
    if cold_start and cold.sum() >= min_cold:
        rows = rows.loc[cold]
    evaluate_at = window.evaluate_at_ms
    if evaluate_at is None:
        evaluate_at = max(window.end_ms, int(labels["known_at_ms"].max()) if len(labels) else 0)
    labeled = label_evaluation_rows(rows, labels, evaluate_at_ms=evaluate_at)
    fraud = int(labeled[LABEL_COLUMN].sum())
    if fraud == 0 or fraud == len(labeled):
        raise PromotionError(
            f"the slice has {len(labeled)} rows and {fraud} fraud: both classes are needed"
        )
    return labeled


def refuse_overlap(model: ScoringModel, window: EvaluationWindow) -> None:
    """``PromotionError`` unless ``window`` starts at or after ``model``'s training label cutoff."""
    split = model.bundle.metadata.get("split", {})
    cutoff = split.get("label_cutoff_ms")
    if cutoff is None:
        raise PromotionError(f"{model.name} v{model.version} does not record its training cutoff")
    if window.start_ms < int(cutoff):
        raise PromotionError(
            f"the slice starts at {window.start_ms}, before the label cutoff {cutoff} of "
            f"{model.name} v{model.version}: it would be judged on what it trained on"
        )


def _score(model: ScoringModel, rows: pd.DataFrame, policy: PromotionPolicy) -> SliceScore:
    scores = model.predict(feature_matrix(rows, model.feature_names))
    fraud = rows[LABEL_COLUMN].to_numpy(dtype=bool)
    return SliceScore(
        version=model.version,
        rows=len(rows),
        fraud_rows=int(fraud.sum()),
        average_precision=average_precision(fraud, scores),
        recall_at_fpr=recall_at_fpr(fraud, scores, policy.recall_fpr),
        roc_auc=roc_auc(fraud, scores),
    )


def _judge(
    challenger: SliceScore, champion: SliceScore | None, policy: PromotionPolicy
) -> tuple[bool, str]:
    if champion is None:
        return True, "no champion yet"
    if champion.version == challenger.version:
        return False, (
            f"version {challenger.version} is already the champion (an earlier promotion "
            "stopped before removing the challenger alias: removed now)"
        )
    ap_new, ap_old = challenger.average_precision or 0.0, champion.average_precision or 0.0
    recall_new, recall_old = challenger.recall_at_fpr or 0.0, champion.recall_at_fpr or 0.0
    gain, drop = ap_new - ap_old, recall_old - recall_new
    facts = (
        f"average precision {ap_new:.4f} vs {ap_old:.4f} ({gain:+.4f}, need "
        f"+{policy.min_average_precision_gain:g}); recall@FPR {policy.recall_fpr:g} "
        f"{recall_new:.4f} vs {recall_old:.4f} (may drop {policy.max_recall_drop:g})"
    )
    if gain < policy.min_average_precision_gain:
        return False, f"not better enough: {facts}"
    if drop > policy.max_recall_drop:
        return False, f"catches less at the operating point: {facts}"
    return True, f"better: {facts}"

"""Retraining's pure parts: the log as of a cutoff, the leak checks, the challenge."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from models.bundle import ModelBundle
from models.challenge import ChallengePolicy, challenge
from models.decision_log import snapshot_at
from models.exceptions import LeakError, PromotionError
from models.frame import LABEL_COLUMN, check_feature_frame, check_label_frame, feature_matrix
from models.leaks import LeakPolicy, check_label_times, scan_for_leaks
from models.promote import EvaluationWindow
from models.scorer_model import ScoringModel
from models.synthetic import SyntheticData
from models.train import TrainingResult
from models.xgb_model import XGBoostParams, train_xgboost


def decision_log(synthetic: SyntheticData) -> pd.DataFrame:
    """The synthetic feature frame as an archived decision log would read back."""
    frame = synthetic.frame.copy()
    frame["decided_at_ms"] = frame["event_time_ms"] + 40
    frame["score"] = 0.1
    frame["model_version"] = "scorer/1"
    frame["degraded"] = False
    return frame


def test_the_snapshot_keeps_first_decisions_and_labels_known_at_the_cutoff(
    synthetic: SyntheticData,
) -> None:
    log = decision_log(synthetic)
    cutoff = int(log["event_time_ms"].iloc[6000])
    # A redelivered batch archived again, decided later with another score: the first wins.
    again = log.iloc[100:110].assign(decided_at_ms=lambda f: f["decided_at_ms"] + 999, score=0.9)
    log.loc[200:204, "degraded"] = True
    shuffled = pd.concat([again, log], ignore_index=True)  # the repeat is read first
    labels = synthetic.labels
    orphan = pd.DataFrame(
        {"tx_id": ["no-such-tx"], "is_fraud": [True], "known_at_ms": [cutoff - 1], "source": ["x"]}
    )
    labels_read = pd.concat([labels, labels.iloc[:3], orphan], ignore_index=True)

    names = (*synthetic.spec.feature_names, "not_in_this_log")
    snap = snapshot_at(
        shuffled,
        labels_read,
        cutoff_ms=cutoff,
        feature_names=names,
        cold_start_features=synthetic.spec.cold_start_features,
    )
    counts = snap.counts
    assert counts.decisions_read == len(shuffled)
    assert counts.after_cutoff == int((shuffled["event_time_ms"] >= cutoff).sum())
    assert counts.duplicates == 10 and counts.degraded == 5
    assert counts.decisions == 6000 - 5 == len(snap.frame)
    assert snap.frame["tx_id"].is_unique and snap.frame["event_time_ms"].is_monotonic_increasing
    firsts = snap.frame.set_index("tx_id").loc[log["tx_id"].iloc[100:110], "score"]
    assert (firsts == 0.1).all()
    assert snap.spec.feature_names == synthetic.spec.feature_names
    check_feature_frame(snap.frame, snap.spec)

    known = labels.loc[labels["known_at_ms"] <= cutoff]
    assert counts.labels_after_cutoff == len(labels) - len(known)
    assert counts.label_duplicates == int((labels.iloc[:3]["known_at_ms"] <= cutoff).sum())
    assert counts.labels_without_decision >= 1
    assert (snap.labels["known_at_ms"] <= cutoff).all()
    assert snap.labels["tx_id"].isin(snap.frame["tx_id"]).all()
    assert counts.fraud_labels == int(snap.labels["is_fraud"].sum())
    check_label_frame(snap.labels)


def test_a_label_dated_before_its_transaction_is_refused(synthetic: SyntheticData) -> None:
    frame, labels = synthetic.frame, synthetic.labels.copy()
    check_label_times(frame, labels)
    event = frame.set_index("tx_id")["event_time_ms"]
    labels.loc[4, "known_at_ms"] = int(event[labels.loc[4, "tx_id"]]) - 1
    with pytest.raises(LeakError, match="1 label.*before their transaction") as caught:
        check_label_times(frame, labels)
    assert caught.value.feature is None and caught.value.statistic == 1.0


def test_honest_features_pass_and_a_label_copied_into_a_feature_is_named(
    trained: TrainingResult,
) -> None:
    train = trained.frames.train
    names = trained.scorers["xgboost"].bundle.feature_names
    scan = scan_for_leaks(train, names)
    assert scan.judged and scan.fraud_rows == int(train[LABEL_COLUMN].sum())
    strongest = scan.strongest
    assert strongest and all(0.5 <= f.roc_auc < 0.99 for f in strongest)
    assert [f.roc_auc for f in strongest] == sorted((f.roc_auc for f in strongest), reverse=True)

    leaky = train.assign(card_new_device=train[LABEL_COLUMN].astype(float))
    with pytest.raises(LeakError, match="`card_new_device` alone separates") as caught:
        scan_for_leaks(leaky, names)
    assert caught.value.feature == "card_new_device" and caught.value.statistic == 1.0


def test_a_handful_of_fraud_rows_is_not_judged_for_leaks(trained: TrainingResult) -> None:
    # Three fraud rows (a short log): any feature constant within them "separates" them.
    train = trained.frames.train
    fraud = train[LABEL_COLUMN].to_numpy(dtype=bool)
    few = train.loc[~fraud | (np.cumsum(fraud) <= 3)]
    looks_leaky = few.assign(card_new_device=few[LABEL_COLUMN].astype(float))
    names = trained.scorers["xgboost"].bundle.feature_names
    scan = scan_for_leaks(looks_leaky, names, LeakPolicy(min_fraud_rows=30))
    assert not scan.judged and scan.fraud_rows == 3
    assert scan.strongest[0].name == "card_new_device"  # still reported, not judged
    assert "too few fraud rows (3) to check features for leaks; need 30" in scan.summary()


def test_a_feature_filled_in_only_for_fraud_is_a_leak_too(trained: TrainingResult) -> None:
    train = trained.frames.train
    fraud = train[LABEL_COLUMN].to_numpy(dtype=bool)
    rng = np.random.default_rng(0)
    hint = np.where(fraud, rng.normal(size=fraud.size), np.nan)
    names = trained.scorers["xgboost"].bundle.feature_names
    with pytest.raises(LeakError, match="`merchant_risk`"):
        scan_for_leaks(train.assign(merchant_risk=hint), names)


# -- the challenge -------------------------------------------------------------------


def _weak(trained: TrainingResult) -> ModelBundle:
    """XGBoost on shuffled labels: same features and metadata, no skill."""
    good = trained.scorers["xgboost"].bundle
    train = trained.frames.train
    shuffled = np.random.default_rng(5).permutation(train[LABEL_COLUMN].to_numpy(dtype=bool))
    predictor = train_xgboost(
        feature_matrix(train, good.feature_names),
        shuffled,
        params=XGBoostParams(n_estimators=20, max_depth=3),
        positive_weight=1.0,
        seed=1,
        n_jobs=1,
    )
    return dataclasses.replace(good, predictor=predictor)


def _serving(bundle: ModelBundle, version: str = "1") -> ScoringModel:
    return ScoringModel(name="scorer", version=version, alias="champion", bundle=bundle)


def _window(trained: TrainingResult) -> EvaluationWindow:
    split = trained.frames.split
    return EvaluationWindow(split.test_start_ms, split.test_end_ms, split.evaluate_at_ms)


def test_a_better_challenger_wins_with_a_significant_gain(trained: TrainingResult) -> None:
    good = trained.scorers["xgboost"].bundle
    result = challenge(
        good, _serving(_weak(trained)), trained.frames.test, window=_window(trained), card_k=10
    )
    assert result.promote, result.reason
    assert result.reason.startswith("better:")
    assert result.significance is not None and result.significance.p_value < 0.05
    assert result.champion is not None and result.champion_version == "1"
    assert (result.challenger.average_precision or 0) > (result.champion.average_precision or 0)
    table = result.table()
    assert "champion v1" in table and "challenger" in table and "PR-AUC" in table
    assert result.metrics()["p_value"] == result.significance.p_value


def test_a_worse_challenger_loses(trained: TrainingResult) -> None:
    champion = _serving(trained.scorers["xgboost"].bundle)
    result = challenge(_weak(trained), champion, trained.frames.test, window=_window(trained))
    assert not result.promote and result.reason.startswith("not better enough")


def test_a_gain_that_may_be_luck_does_not_promote(trained: TrainingResult) -> None:
    # The same model twice: whatever gain the policy allows, there is no evidence.
    bundle = trained.scorers["xgboost"].bundle
    policy = ChallengePolicy(min_average_precision_gain=-1.0, bootstrap_rounds=200)
    result = challenge(
        bundle, _serving(bundle), trained.frames.test, window=_window(trained), policy=policy
    )
    assert not result.promote and result.reason.startswith("better, but not significantly")
    assert result.significance is not None and result.significance.p_value == 1.0


def test_the_operating_point_can_veto(trained: TrainingResult) -> None:
    policy = ChallengePolicy(max_recall_drop=-1.0, bootstrap_rounds=200)
    result = challenge(
        trained.scorers["xgboost"].bundle,
        _serving(_weak(trained)),
        trained.frames.test,
        window=_window(trained),
        policy=policy,
    )
    assert not result.promote and result.reason.startswith("catches less")


def test_no_champion_means_the_challenger_is_promoted(trained: TrainingResult) -> None:
    result = challenge(
        trained.scorers["lightgbm"].bundle, None, trained.frames.test, window=_window(trained)
    )
    assert result.promote and result.reason == "no champion yet" and result.significance is None


def test_a_champion_that_trained_on_the_slice_cannot_be_judged_on_it(
    trained: TrainingResult,
) -> None:
    split = trained.frames.split
    early = EvaluationWindow(split.train_start_ms, split.test_end_ms)
    with pytest.raises(PromotionError, match="before the label cutoff"):
        challenge(
            trained.scorers["xgboost"].bundle,
            _serving(_weak(trained)),
            trained.frames.test,
            window=early,
        )


def test_a_slice_with_too_little_fraud_keeps_the_champion(trained: TrainingResult) -> None:
    test = trained.frames.test
    policy = ChallengePolicy(min_fraud_rows=int(test[LABEL_COLUMN].sum()) + 1, bootstrap_rounds=200)
    result = challenge(
        trained.scorers["xgboost"].bundle,
        _serving(_weak(trained)),
        test,
        window=_window(trained),
        policy=policy,
    )
    assert not result.promote and result.reason.startswith("too few fraud rows to judge")


@pytest.mark.parametrize("kind", ["no fraud", "only fraud"])
def test_a_slice_of_one_class_keeps_the_champion(trained: TrainingResult, kind: str) -> None:
    # A quiet period (no fraud confirmed yet) is not an error of the periodic job.
    test = trained.frames.test
    rows = test[test[LABEL_COLUMN] == (kind == "only fraud")]
    result = challenge(
        trained.scorers["xgboost"].bundle,
        _serving(_weak(trained)),
        rows,
        window=_window(trained),
    )
    assert not result.promote and result.significance is None
    assert result.reason.startswith("too few fraud rows to judge")
    assert result.champion is not None and result.champion.rows == len(rows)
    assert "champion v1" in result.table()


def test_a_first_model_is_not_judged_on_one_class(trained: TrainingResult) -> None:
    test = trained.frames.test
    with pytest.raises(PromotionError, match="both classes are needed to judge a first model"):
        challenge(
            trained.scorers["xgboost"].bundle,
            None,
            test[~test[LABEL_COLUMN].astype(bool)],
            window=_window(trained),
        )

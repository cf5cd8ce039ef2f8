"""Retraining on a decision log made by the real scorer: a leak refused, a worse challenger kept
out, a better one promoted and served by a running scorer without a restart.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY

from contracts.settings import MlflowSettings, RetrainSettings, Settings
from models.exceptions import LeakError, SplitError
from models.frame import feature_matrix
from models.registry import ModelRegistry
from models.scorer_model import load_scoring_model
from models.train import TrainConfig
from models.xgb_model import XGBoostParams, train_xgboost
from services.archive.reader import read_decision_log
from services.cli.main import cli
from services.retrain.job import RetrainRequest, load_snapshot, retrain_config, run_retrain
from services.retrain.schedule import Retrainer
from services.scoring.wiring import ScorerConfig
from tests.services.retrain.helpers import ArchivedLog, copy_log
from tests.services.scoring.helpers import (
    T0,
    ScorerThread,
    TrainedScorer,
    card_payments,
    private_model_names,
    produce_transactions,
    read_until_decided,
)

pytest_plugins = ["tests.services.scorer_fixtures", "tests.services.retrain.log_fixtures"]
pytestmark = pytest.mark.slow

HOUR = 3_600_000
DAY_MS = 24 * HOUR
#: The log spans 21 days: judge on the last 7, a 3-day label gap, labels mature after 7.
SPLIT = {"test_days": 7.0, "gap_days": 3.0, "maturity_days": 7.0}
SPLIT_OPTIONS = ["--test-days", "7", "--gap-days", "3", "--maturity-days", "7"]


def _request(log: Path, reports: Path, *, trees: int, depth: int) -> RetrainRequest:
    train = TrainConfig(
        families=("xgboost",),
        cold_start=False,
        xgboost=XGBoostParams(n_estimators=trees, max_depth=depth, learning_rate=0.1),
        card_k=10,
    )
    settings = RetrainSettings(bootstrap_rounds=300, **SPLIT)
    return RetrainRequest(
        log_dir=log, reports_dir=reports, config=retrain_config(settings, train=train)
    )


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_the_log_reads_back_every_decision_once(decision_log: ArchivedLog) -> None:
    snapshot, archive = load_snapshot(decision_log.root, None)
    assert len(archive.decisions) == decision_log.decisions + decision_log.repeated
    assert snapshot.counts.duplicates == decision_log.repeated
    assert snapshot.counts.decisions == decision_log.decisions
    assert snapshot.cutoff_ms == int(archive.decisions["event_time_ms"].max()) + 1
    assert snapshot.counts.labels_after_cutoff > 0  # chargebacks still on their way
    assert 0 < snapshot.counts.fraud_labels < decision_log.fraud


def test_a_planted_leak_is_refused_naming_the_feature(
    decision_log: ArchivedLog, trained_scorer: TrainedScorer, tmp_path: Path, monkeypatch
) -> None:
    # A risk rate that counted each transaction's own chargeback: the label, copied.
    root = copy_log(decision_log, tmp_path / "log")
    log = read_decision_log(root)
    cutoff = int(log.decisions["event_time_ms"].max()) + 1
    known = log.labels.loc[(log.labels["known_at_ms"] <= cutoff) & log.labels["is_fraud"]]
    fraud = set(known["tx_id"])
    for path in (root / "decisions").rglob("part-*.parquet"):
        table = pq.read_table(path)
        leak = [1.0 if tx in fraud else 0.0 for tx in table.column("tx_id").to_pylist()]
        index = table.schema.get_field_index("feature.merchant_fraud_rate")
        table = table.set_column(index, "feature.merchant_fraud_rate", pa.array(leak))
        pq.write_table(table, path)

    mlflow = private_model_names(trained_scorer)
    monkeypatch.setenv("FRAUDSTREAM_MLFLOW", json.dumps(mlflow.model_dump()))
    reports = tmp_path / "reports"
    args = ["retrain", "--log-dir", str(root), "--reports-dir", str(reports), "--no-progress"]
    result = CliRunner().invoke(cli, [*args, *SPLIT_OPTIONS])
    assert result.exit_code == 1
    assert isinstance(result.exception, LeakError), result.output
    assert result.exception.feature == "merchant_fraud_rate"
    assert "`merchant_fraud_rate` alone separates fraud" in str(result.exception)
    # Refused before training: nothing registered; the drift report was still written.
    assert ModelRegistry(mlflow).alias_version(mlflow.registered_model, "challenger") is None
    (run_dir,) = reports.iterdir()
    assert {"drift.json", "drift.png"} <= {p.name for p in run_dir.iterdir()}


def test_a_worse_challenger_is_not_promoted(
    decision_log: ArchivedLog, trained_scorer: TrainedScorer, tmp_path: Path
) -> None:
    mlflow = private_model_names(trained_scorer)  # champion: the session's XGBoost
    name = mlflow.registered_model
    champion = ModelRegistry(mlflow).require_alias(name, "champion")
    # A stump of three trees against the champion: it should lose, and lose visibly.
    request = _request(decision_log.root, tmp_path / "reports", trees=3, depth=1)
    retrainer = Retrainer(Settings(mlflow=mlflow), request, every_s=3600)

    assert retrainer.run(once=True) == ["kept"]
    job = retrainer.last
    assert job is not None
    outcome = job.outcome
    assert outcome.applied == "kept" and not outcome.result.promote
    assert outcome.result.reason.startswith("not better enough"), outcome.result.reason
    registry = ModelRegistry(mlflow)
    assert registry.alias_version(name, "champion") == champion
    assert registry.alias_version(name, "challenger") == outcome.challenger_version
    tag = registry.version_tags(name, outcome.challenger_version or "")["promotion"]
    assert tag.startswith("refused: not better enough")

    summary = json.loads((job.run_dir / "retrain.json").read_text(encoding="utf-8"))
    assert summary["verdict"] == "kept" and summary["champion_version"] == champion
    assert summary["counts"]["duplicates"] == decision_log.repeated
    assert summary["seconds"]["total"] == pytest.approx(job.seconds)
    assert {"drift.json", "drift.png", "retrain.txt"} <= {p.name for p in job.run_dir.iterdir()}

    # The retrainer exports what it found.
    assert _sample("fraudstream_retrain_last_result", fraudstream_retrain_last_result="kept") == 1
    p_value = outcome.result.significance.p_value if outcome.result.significance else None
    assert _sample("fraudstream_retrain_p_value") == pytest.approx(p_value)
    drift = outcome.plan.drift
    worst = drift.features[0]
    assert _sample("fraudstream_retrain_feature_psi", feature=worst.name) == pytest.approx(
        worst.psi
    )
    assert _sample("fraudstream_retrain_drifted") == len(drift.drifted)
    assert (_sample("fraudstream_retrain_last_run_timestamp_seconds") or 0) > time.time() - 600


def _no_skill_champion(trained: TrainedScorer, mlflow: MlflowSettings, log: ArchivedLog) -> str:
    """Register an XGBoost that learned shuffled labels and make it the champion."""
    good = load_scoring_model(mlflow, version="1")
    snapshot, _ = load_snapshot(log.root, None)
    rows = snapshot.frame.iloc[:3000]
    labels = np.random.default_rng(3).random(len(rows)) < 0.02
    predictor = train_xgboost(
        feature_matrix(rows, good.feature_names),
        labels,
        params=XGBoostParams(n_estimators=5, max_depth=2),
        positive_weight=1.0,
        seed=1,
        n_jobs=1,
    )
    bundle = dataclasses.replace(good.bundle, predictor=predictor)
    registry = ModelRegistry(mlflow)
    logged = registry.log_model_run(bundle, run_name="no-skill", params={}, metrics={})
    version = registry.register(mlflow.registered_model, logged)
    registry.set_alias(mlflow.registered_model, "champion", version)
    return version


def test_a_better_challenger_is_promoted_and_served_by_a_running_scorer(
    decision_log: ArchivedLog,
    trained_scorer: TrainedScorer,
    scorer_settings: Settings,
    tmp_path: Path,
) -> None:
    mlflow = private_model_names(trained_scorer)
    weak = _no_skill_champion(trained_scorer, mlflow, decision_log)
    settings = scorer_settings.model_copy(update={"mlflow": mlflow})
    name = mlflow.registered_model
    before = card_payments(6, 6, tag="a")
    after = card_payments(6, 4, tag="b", start_ms=T0 + 6 * HOUR)

    with ScorerThread(settings, ScorerConfig(group_id="retrain-live", reload_every_s=0.2)):
        produce_transactions(settings, before)
        decided = [d for d in read_until_decided(settings, {t.tx_id for t in before})]
        assert {d.model_version for d in decided if not d.cold_start} == {f"{name}/{weak}"}

        request = _request(decision_log.root, tmp_path / "reports", trees=60, depth=4)
        job = run_retrain(settings, request, progress=False)
        outcome = job.outcome
        assert outcome.applied == "promoted", outcome.result.reason
        assert outcome.result.significance is not None
        assert outcome.result.significance.p_value < 0.05
        registry = ModelRegistry(mlflow)
        new = outcome.challenger_version
        assert registry.alias_version(name, "champion") == new
        assert registry.alias_version(name, "previous-champion") == weak

        time.sleep(0.4)  # the scorer looks at the alias at most every 0.2 s
        produce_transactions(settings, after)
        wanted = {t.tx_id for t in after}
        decided = [d for d in read_until_decided(settings, wanted) if d.tx_id in wanted]
    assert len(decided) == len(after)
    assert {d.model_version for d in decided if not d.cold_start} == {f"{name}/{new}"}


def test_the_drift_command_prints_the_table_and_can_fail_the_build(
    decision_log: ArchivedLog, tmp_path: Path
) -> None:
    out = tmp_path / "drift"
    args = ["drift", "--log-dir", str(decision_log.root), "--out", str(out), "--top", "5"]
    result = CliRunner().invoke(cli, [*args, *SPLIT_OPTIONS, "--fail-on-drift"])
    # The log starts from an empty feature store: history features grow over its weeks.
    assert result.exit_code == 3, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"decision log: {decision_log.root}:")
    assert any(line.startswith("card_history_count") and line.endswith("DRIFT") for line in lines)
    assert any(line.startswith("score ") for line in lines)
    assert any("features above PSI 0.2" in line for line in lines)
    assert lines[-1].startswith("wrote ")
    assert json.loads((out / "drift.json").read_text(encoding="utf-8"))["drifted"]


def _log_start(log: ArchivedLog) -> int:
    snapshot, _ = load_snapshot(log.root, None)
    return int(snapshot.frame["event_time_ms"].iloc[0])


def test_a_log_too_short_for_the_split_says_its_span_and_what_to_change(
    decision_log: ArchivedLog, tmp_path: Path
) -> None:
    # Five days of log against the default 7 + 7 days of test slice and gap.
    cutoff = _log_start(decision_log) + 5 * DAY_MS
    args = ["retrain", "--dry-run", "--log-dir", str(decision_log.root), "--no-progress"]
    options = ["--cutoff", str(cutoff), "--reports-dir", str(tmp_path / "reports")]
    result = CliRunner().invoke(cli, [*args, *options])
    assert isinstance(result.exception, SplitError), result.output
    message = str(result.exception)
    assert "(5 days up to the cutoff" in message
    assert "last 14 days (--test-days 7 + --gap-days 7)" in message
    assert "less than 5 days" in message and "later --cutoff" in message
    assert "--maturity-days 14" in message


def test_a_short_log_with_a_handful_of_fraud_rows_is_not_called_leaky(
    decision_log: ArchivedLog, trained_scorer: TrainedScorer, tmp_path: Path, monkeypatch
) -> None:
    # The README's first retrain on a fresh log: 2.5 days, 4 fraud rows to train on, and
    # a dozen honest features (amount, hour_of_day, ...) rank all four on top.
    mlflow = private_model_names(trained_scorer)
    monkeypatch.setenv("FRAUDSTREAM_MLFLOW", json.dumps(mlflow.model_dump()))
    cutoff = _log_start(decision_log) + int(2.5 * DAY_MS)
    args = ["retrain", "--dry-run", "--log-dir", str(decision_log.root), "--no-progress"]
    options = ["--cutoff", str(cutoff), "--reports-dir", str(tmp_path / "reports")]
    short = ["--test-days", "1.5", "--gap-days", "0.5", "--maturity-days", "1"]
    result = CliRunner().invoke(cli, [*args, *options, *short])
    assert result.exit_code == 0, result.output
    assert (
        "leak check: skipped: too few fraud rows (4) to check features for leaks; need 30"
        in result.output
    )

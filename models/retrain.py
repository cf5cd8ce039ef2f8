"""Retraining as a function: decision log as of a cutoff -> challenger -> judged -> maybe champion.

Two steps, so the caller can write the drift report even when training is refused:

``prepare(snapshot, config)``
    The time split of the snapshot (``models.split``: train on the older
    part, a gap for label delay, the most recent ``test_days`` before the
    cutoff as the slice both models are judged on, with labels as known at
    the cutoff) and the drift report (PSI of every feature and of the served
    score, recent slice against the training window, ``models.drift``).

``retrain(plan, ...)``
    1. refuse a leaky training set (``models.leaks``: mis-dated labels, a
       feature that alone gives the answer, judged only on enough fraud rows);
    2. train every family on the served feature vectors; unless ``dry_run``,
       log and register them through ``models.workflow.train_and_register``
       (the best one gets the ``challenger`` alias);
    3. judge champion against challenger on the recent slice with a paired
       bootstrap (``models.challenge``);
    4. unless ``dry_run`` or ``promote=False``, apply the verdict as
       ``fraudstream promote`` does (``models.promote.record_verdict``): the
       scorers' champion watchers pick the new version up without a restart;
    5. unless ``dry_run``, log a ``retrain`` run to MLflow: the split, the
       policy, both models' metrics, the test, the PSIs, the timings, the
       reports as artifacts.

``retrain.txt`` never claims more than the registry holds: it is written
before the verdict is applied (saying it is being applied), rewritten with the
aliases as they stand if applying it fails, and with the verdict once applied.
A failure to log the ``retrain`` run after that does not undo or hide the
verdict: the outcome keeps it, with ``run_log_error`` saying why the run is
missing (a line of the report too).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from contracts.settings import MlflowSettings
from models.bundle import ModelBundle
from models.challenge import ChallengePolicy, ChallengeResult, challenge
from models.decision_log import LogSnapshot
from models.drift import DriftReport, drift_report
from models.exceptions import RegistryError
from models.leaks import FeatureStrength, LeakPolicy, LeakScan, check_label_times, scan_for_leaks
from models.predictor import ScorerFamily
from models.promote import CHALLENGER, CHAMPION, PREVIOUS, EvaluationWindow, record_verdict
from models.registry import ModelRegistry
from models.scorer_model import ScoringModel, load_scoring_model
from models.split import SplitFrames, TimeSplit, plan_time_split, split_frames
from models.train import TrainConfig, train_candidates
from models.workflow import train_and_register

__all__ = [
    "RetrainConfig",
    "RetrainOutcome",
    "RetrainPlan",
    "describe",
    "drift_at",
    "prepare",
    "retrain",
]

#: What happened to the champion alias.
Applied = Literal["promoted", "kept", "not applied", "dry run"]


def _default_train() -> TrainConfig:
    # The cold-start model is not retrained here: it is judged on new cards only,
    # which a week of decisions holds too few of (see the README's retraining section).
    # One training thread: the job shares its machine with scorers, and on a busy
    # 2-core box two OpenMP threads made XGBoost's 300 trees take 48-96 s instead of
    # ~1 s (threads waiting on each other at every split); one thread does not wait.
    return TrainConfig(families=("xgboost", "lightgbm"), cold_start=False, n_jobs=1)


@dataclass(frozen=True)
class RetrainConfig:
    #: Families, hyper-parameters, thresholds; ``split.end_ms`` / ``evaluate_at_ms``
    #: are set from the cutoff.
    train: TrainConfig = field(default_factory=_default_train)
    policy: ChallengePolicy = field(default_factory=ChallengePolicy)
    leaks: LeakPolicy = field(default_factory=LeakPolicy)
    psi_threshold: float = 0.2
    psi_bins: int = 10
    challenger: ScorerFamily | Literal["best"] = "best"
    experiment: str = "fraudstream"


@dataclass(frozen=True)
class RetrainPlan:
    snapshot: LogSnapshot
    #: ``RetrainConfig.train`` with the split anchored at the cutoff.
    train_config: TrainConfig
    frames: SplitFrames
    drift: DriftReport


@dataclass(frozen=True)
class RetrainOutcome:
    plan: RetrainPlan
    #: The single-feature leak scan: its strongest features, and whether it judged them.
    leak_scan: LeakScan
    challenger_family: str
    #: The registered version (None in a dry run: nothing was registered).
    challenger_version: str | None
    result: ChallengeResult
    applied: Applied
    #: The MLflow ``retrain`` run (None in a dry run).
    run_id: str | None
    report_text: str
    #: Seconds per stage (train, evaluate, mlflow, and whatever the caller measured before).
    timings: dict[str, float]
    artifacts: list[Path] = field(default_factory=list)
    #: Why the ``retrain`` run could not be logged, after the verdict was applied (it stands).
    run_log_error: str | None = None

    @property
    def strongest_features(self) -> list[FeatureStrength]:
        return self.leak_scan.strongest


def prepare(snapshot: LogSnapshot, config: RetrainConfig) -> RetrainPlan:
    """The split at the snapshot's cutoff and the drift of the recent slice (no training)."""
    train_config, split = _anchored_split(snapshot, config)
    frames = split_frames(snapshot.frame, snapshot.labels, split)
    drift = _drift(snapshot, split, config)
    return RetrainPlan(snapshot=snapshot, train_config=train_config, frames=frames, drift=drift)


def drift_at(snapshot: LogSnapshot, config: RetrainConfig) -> DriftReport:
    """The drift report alone: recent slice against the training window (labels not needed)."""
    _, split = _anchored_split(snapshot, config)
    return _drift(snapshot, split, config)


def _anchored_split(snapshot: LogSnapshot, config: RetrainConfig) -> tuple[TrainConfig, TimeSplit]:
    split_config = dataclasses.replace(
        config.train.split, end_ms=snapshot.cutoff_ms, evaluate_at_ms=snapshot.cutoff_ms
    )
    split = plan_time_split(snapshot.frame, snapshot.labels, split_config)
    return dataclasses.replace(config.train, split=split_config), split


def _drift(snapshot: LogSnapshot, split: TimeSplit, config: RetrainConfig) -> DriftReport:
    times = snapshot.frame["event_time_ms"]
    reference = snapshot.frame.loc[(times >= split.train_start_ms) & (times < split.train_end_ms)]
    recent = snapshot.frame.loc[(times >= split.test_start_ms) & (times < split.test_end_ms)]
    return drift_report(
        reference,
        recent,
        snapshot.spec.feature_names,
        threshold=config.psi_threshold,
        bins=config.psi_bins,
    )


def retrain(
    plan: RetrainPlan,
    settings: MlflowSettings,
    config: RetrainConfig,
    *,
    out_dir: Path,
    dry_run: bool = False,
    promote: bool = True,
    progress: bool = True,
    artifacts: list[Path] | None = None,
    timings: dict[str, float] | None = None,
    registry: ModelRegistry | None = None,
) -> RetrainOutcome:
    """Check, train, judge, apply and log (see the module docstring).

    ``artifacts`` (e.g. the drift report files) are logged with the run;
    ``timings`` are the caller's earlier stages, reported with these.
    """
    snapshot, frames = plan.snapshot, plan.frames
    spent = dict(timings or {})
    check_label_times(snapshot.frame, snapshot.labels)
    leak_scan = scan_for_leaks(frames.train, snapshot.spec.feature_names, config.leaks)
    registry = registry or ModelRegistry(settings, experiment=config.experiment)

    started = time.perf_counter()
    bundle, family, version, training_files = _train(
        snapshot, settings, plan.train_config, config, out_dir, dry_run=dry_run, progress=progress
    )
    spent["train"] = time.perf_counter() - started

    started = time.perf_counter()
    champion = _champion(settings, registry)
    split = frames.split
    window = EvaluationWindow(split.test_start_ms, split.test_end_ms, split.evaluate_at_ms)
    label = f"challenger {family}" + (f" v{version}" if version else "")
    result = challenge(
        bundle,
        champion,
        frames.test,
        window=window,
        policy=config.policy,
        card_k=config.train.card_k,
        challenger_label=label,
    )
    if result.promote and not leak_scan.judged:
        # Too few fraud rows to tell a leak from a strong feature: a label copied into
        # a feature would otherwise go live unjudged. Nothing promotes unchecked.
        result = dataclasses.replace(
            result,
            promote=False,
            reason=(
                f"not promoted while the leak check cannot judge ({leak_scan.fraud_rows} "
                f"fraud rows in training, it needs {leak_scan.min_fraud_rows}); "
                f"the comparison alone: {result.reason}"
            ),
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    report_file = _ReportFile(out_dir / "retrain.txt", plan, leak_scan, result)
    applied = _apply_reported(
        report_file, registry, settings, result, version, label, dry_run=dry_run, promote=promote
    )
    spent["evaluate"] = time.perf_counter() - started

    decision = _decision(applied, result, label)
    report = report_file.write(decision)
    files = [report_file.path, *(artifacts or []), *training_files]
    run_id, run_log_error = None, None
    if not dry_run:
        started = time.perf_counter()
        try:
            run_id = _log_run(
                registry, plan, config, result, applied, family, version, files, spent
            )
        except RegistryError as exc:
            # The verdict is in the registry by now: raising would report a failed
            # run while `champion` has moved (and the caller would write no summary).
            run_log_error = str(exc)
        spent["mlflow"] = time.perf_counter() - started
    if run_log_error is not None:
        report = report_file.write(
            decision, f"mlflow: the retrain run was not logged: {run_log_error}"
        )
    return RetrainOutcome(
        plan=plan,
        leak_scan=leak_scan,
        challenger_family=family,
        challenger_version=version,
        result=result,
        applied=applied,
        run_id=run_id,
        report_text=report,
        timings=spent,
        artifacts=files,
        run_log_error=run_log_error,
    )


def describe(
    plan: RetrainPlan,
    leak_scan: LeakScan,
    family: str,
    version: str | None,
    result: ChallengeResult,
    applied: Applied,
) -> str:
    """The run in words: what was read, the split, the checks, the table, the test, the verdict."""
    who = f"challenger {family}" + (f" v{version}" if version else "")
    return _describe(plan, leak_scan, result, _decision(applied, result, who))


def _describe(
    plan: RetrainPlan,
    leak_scan: LeakScan,
    result: ChallengeResult,
    decision: str,
    *extra: str,
) -> str:
    """``describe`` with its decision line given; ``extra`` lines go last."""
    counts, split = plan.snapshot.counts, plan.frames.split
    train, test = plan.frames.train, plan.frames.test
    sources = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.labels_by_source.items()))
    lines = [
        f"cutoff: {_when(plan.snapshot.cutoff_ms)} (decisions before it, labels known by it)",
        f"decisions: {counts.decisions:,} used of {counts.decisions_read:,} read "
        f"({counts.duplicates:,} duplicates, {counts.degraded:,} degraded, "
        f"{counts.after_cutoff:,} after the cutoff left out)",
        f"labels known at the cutoff: {counts.labels:,} ({counts.fraud_labels:,} fraud, "
        f"{counts.labels - counts.fraud_labels:,} legitimate; {sources or 'none'}); "
        f"{counts.labels_after_cutoff:,} known later, "
        f"{counts.labels_without_decision:,} without a decision",
        f"train: {_when(split.train_start_ms)} .. {_when(split.train_end_ms)}: "
        f"{len(train):,} rows, {int(train['is_fraud'].sum()):,} fraud (labels known at "
        f"{_when(split.label_cutoff_ms)}; unlabelled rows older than "
        f"{split.maturity_ms / 86_400_000:g} days count as legitimate)",
        f"recent slice: {_when(split.test_start_ms)} .. {_when(split.test_end_ms)}: "
        f"{len(test):,} rows, {int(test['is_fraud'].sum()):,} fraud",
        f"leak check: {leak_scan.summary()}",
        "",
        result.table(title="champion vs challenger on the recent slice"),
        "",
    ]
    test_result = result.significance
    if test_result is not None:
        lines.append(
            f"significance: PR-AUC difference {test_result.observed_difference:+.4f} "
            f"({test_result.confidence:.0%} interval {test_result.ci_low:+.4f} .. "
            f"{test_result.ci_high:+.4f}), p = {test_result.p_value:.4f} "
            f"(paired bootstrap over {test_result.units:,} cards, {test_result.rounds} rounds)"
        )
    lines.append(f"policy: {result.policy.describe()}")
    lines.append(decision)
    lines.append(f"drift: {plan.drift.summary()}")
    lines.extend(extra)
    return "\n".join(lines)


def _decision(applied: Applied, result: ChallengeResult, who: str) -> str:
    """The report's decision line once the verdict is applied (or deliberately not)."""
    verdict = {
        "promoted": f"PROMOTED {who} to champion",
        "kept": "kept the champion",
        "not applied": f"{'would promote' if result.promote else 'would keep'} (--no-promote)",
        "dry run": f"{'would promote' if result.promote else 'would keep'} (dry run)",
    }[applied]
    return f"decision: {verdict}: {result.reason}"


def _intent(result: ChallengeResult, who: str) -> str:
    return f"promote {who} to champion" if result.promote else f"keep the champion over {who}"


@dataclass(frozen=True)
class _ReportFile:
    """``retrain.txt``, rewritten as the verdict is applied (see the module docstring)."""

    path: Path
    plan: RetrainPlan
    leak_scan: LeakScan
    result: ChallengeResult

    def write(self, decision: str, *extra: str) -> str:
        text = _describe(self.plan, self.leak_scan, self.result, decision, *extra)
        self.path.write_text(text + "\n", encoding="utf-8")
        return text


def _train(
    snapshot: LogSnapshot,
    settings: MlflowSettings,
    train_config: TrainConfig,
    config: RetrainConfig,
    out_dir: Path,
    *,
    dry_run: bool,
    progress: bool,
) -> tuple[ModelBundle, str, str | None, list[Path]]:
    """The challenger's bundle, family, registered version (None in a dry run), report files."""
    if dry_run:
        result = train_candidates(
            snapshot.frame, snapshot.labels, snapshot.spec, train_config, progress=progress
        )
        family = (
            config.challenger
            if config.challenger != "best"
            else result.preferred_family(train_config.families)
        )
        return result.scorers[family].bundle, family, None, []
    outcome = train_and_register(
        snapshot.frame,
        snapshot.labels,
        snapshot.spec,
        settings,
        train_config,
        out_dir=out_dir / "training",
        register=train_config.families,
        challenger=config.challenger,
        experiment=config.experiment,
        progress=progress,
    )
    family = outcome.challenger_family
    bundle = outcome.result.scorers[family].bundle
    return bundle, family, outcome.challenger_version, list(outcome.artifacts)


def _champion(settings: MlflowSettings, registry: ModelRegistry) -> ScoringModel | None:
    if registry.alias_version(settings.registered_model, CHAMPION) is None:
        return None
    return load_scoring_model(settings, alias=CHAMPION, registry=registry)


def _apply_reported(
    report: _ReportFile,
    registry: ModelRegistry,
    settings: MlflowSettings,
    result: ChallengeResult,
    version: str | None,
    who: str,
    *,
    dry_run: bool,
    promote: bool,
) -> Applied:
    """``_apply`` with the report written before it, and again if it fails part-way."""
    if dry_run or version is None:
        return "dry run"
    # Before any alias moves: a run killed while they move leaves a report saying the
    # verdict was being applied, not one without it or with a verdict the registry lacks.
    report.write(
        f"decision: applying the verdict: {_intent(result, who)}: {result.reason} (if this "
        "line remains, the run stopped while applying it: the registry's aliases say how far)"
    )
    try:
        return _apply(registry, settings, result, version, promote=promote)
    except Exception as exc:
        # The aliases may have moved part-way: say where they stand, read back, then fail.
        aliases = _aliases_now(registry, settings.registered_model)
        report.write(
            f"decision: FAILED while applying the verdict (would {_intent(result, who)}): "
            f"{exc}; aliases now: {aliases}"
        )
        raise


def _aliases_now(registry: ModelRegistry, name: str) -> str:
    try:
        found = {a: registry.alias_version(name, a) for a in (CHAMPION, CHALLENGER, PREVIOUS)}
    except RegistryError as exc:
        return f"unknown (the registry could not be read: {exc})"
    return ", ".join(f"{alias} {'v' + v if v else 'none'}" for alias, v in found.items())


def _apply(
    registry: ModelRegistry,
    settings: MlflowSettings,
    result: ChallengeResult,
    version: str,
    *,
    promote: bool,
) -> Applied:
    name = settings.registered_model
    if not promote:
        would = "would promote" if result.promote else "would keep the champion"
        registry.set_version_tag(
            name, version, "promotion", f"not applied: {would}: {result.reason}"
        )
        return "not applied"
    record_verdict(
        registry,
        name,
        version,
        result.champion_version,
        promoted=result.promote,
        reason=result.reason,
    )
    return "promoted" if result.promote else "kept"


def _log_run(
    registry: ModelRegistry,
    plan: RetrainPlan,
    config: RetrainConfig,
    result: ChallengeResult,
    applied: Applied,
    family: str,
    version: str | None,
    files: list[Path],
    spent: dict[str, float],
) -> str:
    counts = plan.snapshot.counts
    params: dict[str, object] = {
        "cutoff_ms": plan.snapshot.cutoff_ms,
        **{f"split.{k}": v for k, v in plan.frames.split.as_params().items()},
        **{f"policy.{k}": v for k, v in dataclasses.asdict(config.policy).items()},
        "leak.max_single_feature_auc": config.leaks.max_single_feature_auc,
        "leak.min_fraud_rows": config.leaks.min_fraud_rows,
        "psi_threshold": config.psi_threshold,
        "families": ",".join(config.train.families),
        "challenger_family": family,
        "features": len(plan.snapshot.spec.feature_names),
    }
    metrics: dict[str, float] = {
        **{f"log.{k}": float(v) for k, v in counts.as_dict().items() if isinstance(v, int | float)},
        "train_rows": float(len(plan.frames.train)),
        "test_rows": float(len(plan.frames.test)),
        **result.metrics(),
        **{f"psi.{p.name}": p.psi for p in plan.drift.features if p.psi is not None},
        "drifted": float(len(plan.drift.drifted)),
        **{f"seconds.{stage}": s for stage, s in spent.items()},
    }
    drift_score = plan.drift.score
    if drift_score is not None and drift_score.psi is not None:
        metrics["score_psi"] = drift_score.psi
    tags = {
        "role": "retrain",
        "verdict": applied,
        "challenger_version": version or "",
        "champion_version": result.champion_version or "",
    }
    return registry.log_run(
        run_name="retrain", params=params, metrics=metrics, artifacts=files, tags=tags
    )


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")

"""Time-based splits: train on the past, skip a gap for label delay, test on a later slice.

Timeline (``label_cutoff_ms`` is the moment the model is trained, so it
equals the test start)::

    train_start        train_end          label_cutoff = test_start         test_end
        |---- train rows ----|---- gap ----|---------- test rows ----------|
                                           ^ training labels known by here  ^ ... evaluation
                                                                              labels known by
                                                                              evaluate_at

* Training rows are labeled as known at the cutoff (``models.labels``
  policy: older unlabeled rows are legitimate, younger unlabeled rows dropped).
* Gap rows are used by nobody: at training time their labels mostly do not
  exist yet (the "delay period" of the fraud-detection literature).
* Test rows are labeled as known at ``evaluate_at_ms`` (by default every
  label in the label frame, i.e. the slice is evaluated once it has matured).

Random splits are never offered: fraud drifts, and a random split lets the
model see the future.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass

import pandas as pd

from models.exceptions import SplitError
from models.frame import LABEL_COLUMN
from models.labels import label_evaluation_rows, label_training_rows

__all__ = ["DAY_MS", "SplitConfig", "SplitFrames", "TimeSplit", "plan_time_split", "split_frames"]

DAY_MS = 86_400_000


@dataclass(frozen=True)
class SplitConfig:
    """How to cut a frame in time, in days, anchored at its end."""

    #: The later slice the models are judged on.
    test_days: float = 7.0
    #: Rows between training and test that nobody uses (label delay).
    gap_days: float = 7.0
    #: Training history length; None = everything before the gap.
    train_days: float | None = None
    #: Unlabeled training rows younger than this at the cutoff are dropped.
    maturity_days: float = 14.0
    #: The end of the test slice (exclusive); None = just after the last event.
    end_ms: int | None = None
    #: When test labels are read; None = the latest ``known_at_ms`` in the labels.
    evaluate_at_ms: int | None = None

    def __post_init__(self) -> None:
        if self.test_days <= 0 or self.gap_days < 0 or self.maturity_days < 0:
            raise SplitError("test_days must be positive, gap and maturity not negative")
        if self.train_days is not None and self.train_days <= 0:
            raise SplitError("train_days must be positive")


@dataclass(frozen=True)
class TimeSplit:
    """The boundaries of one split, in epoch ms (starts inclusive, ends exclusive)."""

    train_start_ms: int
    train_end_ms: int
    label_cutoff_ms: int
    test_start_ms: int
    test_end_ms: int
    evaluate_at_ms: int
    maturity_ms: int

    def as_params(self) -> dict[str, int]:
        """The boundaries as flat parameters (MLflow params, model metadata)."""
        return asdict(self)


@dataclass(frozen=True)
class SplitFrames:
    """Labeled training and test rows (each with an ``is_fraud`` column) and their split."""

    train: pd.DataFrame
    test: pd.DataFrame
    split: TimeSplit


def plan_time_split(frame: pd.DataFrame, labels: pd.DataFrame, config: SplitConfig) -> TimeSplit:
    """Turn ``config`` into concrete boundaries for this frame."""
    if frame.empty:
        raise SplitError("the feature frame is empty")
    first_ms = int(frame["event_time_ms"].iloc[0])
    end_ms = (
        config.end_ms if config.end_ms is not None else int(frame["event_time_ms"].iloc[-1]) + 1
    )
    test_start = end_ms - round(config.test_days * DAY_MS)
    train_end = test_start - round(config.gap_days * DAY_MS)
    train_start = (
        first_ms if config.train_days is None else train_end - round(config.train_days * DAY_MS)
    )
    if config.evaluate_at_ms is not None:
        evaluate_at = config.evaluate_at_ms
    elif labels.empty:
        evaluate_at = end_ms
    else:
        evaluate_at = max(end_ms, int(labels["known_at_ms"].max()))
    if train_end <= max(train_start, first_ms):
        last_ms = int(frame["event_time_ms"].iloc[-1])
        raise SplitError(_too_short(first_ms, last_ms, end_ms, config))
    return TimeSplit(
        train_start_ms=train_start,
        train_end_ms=train_end,
        label_cutoff_ms=test_start,
        test_start_ms=test_start,
        test_end_ms=end_ms,
        evaluate_at_ms=evaluate_at,
        maturity_ms=round(config.maturity_days * DAY_MS),
    )


def _too_short(first_ms: int, last_ms: int, end_ms: int, config: SplitConfig) -> str:
    """Why nothing is left to train on, with the numbers and the options that change them.

    The options are those of ``fraudstream train`` and ``fraudstream retrain``
    (``--test-days``/``--gap-days``); a set ``end_ms`` is retraining's cutoff,
    which adds ``--cutoff`` and ``--maturity-days``.
    """
    available = _floor_days(end_ms - first_ms)
    window = config.test_days + config.gap_days
    span = f"{_date(first_ms)} .. {_date(last_ms)}"
    if config.end_ms is None:
        span += f" ({available:g} days)"
    else:
        span += f" ({available:g} days up to the cutoff, {_date(end_ms, '%Y-%m-%d %H:%M')})"
    message = (
        f"no training history before the gap: the data is too short: it spans {span}, but the "
        f"test slice and the gap take its last {window:g} days (--test-days "
        f"{config.test_days:g} + --gap-days {config.gap_days:g}): make them add up to less "
        f"than {available:g} days"
    )
    if config.end_ms is None:
        return message + ", or train on a longer history"
    message += ", pick a later --cutoff if the log goes on, or wait until it covers more days"
    if config.maturity_days >= available:
        # Not why this split fails, but the next one would: every unlabelled training
        # row would be too young to count as legitimate.
        message += (
            f"; lower --maturity-days {config.maturity_days:g} below that span too, or every "
            "unlabelled training row is left out as too young to call legitimate"
        )
    return message


def _floor_days(ms: int) -> float:
    """Days to one decimal, rounded down: a bound quoted to the user must really hold."""
    return math.floor(ms / DAY_MS * 10) / 10


def _date(ms: int, fmt: str = "%Y-%m-%d") -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime(fmt)


def split_frames(frame: pd.DataFrame, labels: pd.DataFrame, split: TimeSplit) -> SplitFrames:
    """Cut ``frame`` by ``split`` and join labels point-in-time on each side.

    Raises ``SplitError`` when either side is empty or the training side has
    no fraud (a model cannot learn a class it never saw).
    """
    times = frame["event_time_ms"]
    train_rows = frame.loc[(times >= split.train_start_ms) & (times < split.train_end_ms)]
    test_rows = frame.loc[(times >= split.test_start_ms) & (times < split.test_end_ms)]
    train = label_training_rows(
        train_rows, labels, as_of_ms=split.label_cutoff_ms, maturity_ms=split.maturity_ms
    )
    test = label_evaluation_rows(test_rows, labels, evaluate_at_ms=split.evaluate_at_ms)
    if train.empty or test.empty:
        raise SplitError(f"empty slice: {len(train)} training rows, {len(test)} test rows")
    if not train[LABEL_COLUMN].any():
        raise SplitError("no fraud label is known in the training slice by the cutoff")
    return SplitFrames(train=train, test=test, split=split)

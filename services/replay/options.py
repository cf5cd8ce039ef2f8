"""What a replay is asked to do, and the parsing of the options that say it.

Pure and cheap to import (no pandas): the command line builds a
``ReplayOptions`` and hands it to ``services.replay.normalise``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import msgspec
import yaml

from contracts.events import CHANNELS, Transaction
from services.replay.exceptions import ReplayInputError

__all__ = [
    "DEFAULT_LABEL_DELAY_MS",
    "LABEL_KNOWN_AT_COLUMN",
    "FileFormat",
    "ON_ERROR_CHOICES",
    "TIME_UNIT_CHOICES",
    "TRANSACTION_FIELDS",
    "OnError",
    "ReplayOptions",
    "TimeUnit",
    "load_map_file",
    "merge_maps",
    "parse_duration_ms",
    "parse_map_items",
]

OnError = Literal["fail", "skip", "dead-letter"]
TimeUnit = Literal["auto", "s", "ms", "us", "ns", "iso"]
FileFormat = Literal["auto", "csv", "parquet"]
ON_ERROR_CHOICES: tuple[str, ...] = get_args(OnError)
TIME_UNIT_CHOICES: tuple[str, ...] = get_args(TimeUnit)

#: Chargebacks typically arrive days after the payment; a week is a middle-of-the-road
#: delay that keeps imported labels from leaking into features of the same day.
DEFAULT_LABEL_DELAY_MS = 7 * 24 * 3600 * 1000
#: When each label became known (epoch ms): ``--out`` writes it, and a replay of a file
#: with it uses it, so a replayed history keeps its own label delays.
LABEL_KNOWN_AT_COLUMN = "label_known_at_ms"

#: Every field a file column can be mapped onto (the envelope ``type``/``v`` is ours).
TRANSACTION_FIELDS: tuple[str, ...] = tuple(
    name for name in (f.name for f in msgspec.structs.fields(Transaction)) if name != "v"
)

_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d|w)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclass(frozen=True)
class ReplayOptions:
    """How to read one history file. ``None`` means "the preset's choice, else the default"."""

    preset: str | None = None
    #: Transaction field -> file column; wins over the preset and same-named columns.
    column_map: Mapping[str, str] = field(default_factory=dict)
    time_unit: TimeUnit = "auto"
    default_country: str | None = None
    #: Fills the channel where the file has none (built-in default ``pos``).
    default_channel: str | None = None
    #: Fills the currency where the file has none (built-in default ``EUR``).
    default_currency: str | None = None
    #: Label column in the file; ``None`` = the preset's, else ``is_fraud`` when present.
    label_column: str | None = None
    labels: bool = True
    label_delay_ms: int = DEFAULT_LABEL_DELAY_MS
    #: Shift the whole history so its last event happens at ``now_ms``.
    rebase_now: bool | None = None
    #: "Now" for ``rebase_now`` (tests pin it); ``None`` = the wall clock.
    now_ms: int | None = None
    #: Read only the first N data rows of the file (a quick look at a large file).
    limit: int | None = None
    file_format: FileFormat = "auto"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.column_map) - set(TRANSACTION_FIELDS))
        if unknown:
            raise ReplayInputError(
                f"cannot map onto unknown field(s) {', '.join(unknown)}; "
                f"Transaction fields are: {', '.join(TRANSACTION_FIELDS)}"
            )
        if self.default_country is not None and not re.fullmatch(
            r"[A-Za-z]{2}", self.default_country
        ):
            raise ReplayInputError(
                f"--default-country wants a 2-letter ISO code, got {self.default_country!r}"
            )
        if self.default_currency is not None and not re.fullmatch(
            r"[A-Za-z]{3}", self.default_currency
        ):
            raise ReplayInputError(
                f"--default-currency wants a 3-letter ISO code, got {self.default_currency!r}"
            )
        if self.default_channel is not None and self.default_channel.lower() not in CHANNELS:
            raise ReplayInputError(
                f"--default-channel must be one of {', '.join(CHANNELS)}, "
                f"got {self.default_channel!r}"
            )
        if self.label_delay_ms < 0:
            raise ReplayInputError("the label delay cannot be negative")
        if self.limit is not None and self.limit < 1:
            raise ReplayInputError("--limit must be at least 1")


def parse_map_items(items: Iterable[str]) -> dict[str, str]:
    """``["card_id=cc_num,amount=amt", "merchant_id=merchant"]`` -> ``{target: source}``.

    Column names containing commas cannot be given here; use ``--map-file`` for them.
    """
    mapping: dict[str, str] = {}
    for item in items:
        for pair in item.split(","):
            if not pair.strip():
                continue
            target, sep, source = pair.partition("=")
            if not sep or not target.strip() or not source.strip():
                raise ReplayInputError(f"--map expects target=source, got {pair.strip()!r}")
            mapping[target.strip()] = source.strip()
    return mapping


def load_map_file(path: Path) -> dict[str, str]:
    """A YAML mapping ``transaction_field: file column`` (one per line)."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ReplayInputError(f"cannot read the mapping file {path}: {exc}") from exc
    if not isinstance(loaded, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in loaded.items()
    ):
        raise ReplayInputError(
            f"{path} must be a YAML mapping of transaction field to column name, "
            "e.g. `card_id: cc_num`"
        )
    return dict(loaded)


def parse_duration_ms(text: str) -> int:
    """``7d``, ``36h``, ``90m``, ``30s``, ``500ms``, ``2w``; a bare number is seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ReplayInputError(f"not a duration: {text!r} (examples: 7d, 36h, 90m, 30s, 0)")
    unit = match.group("unit") or "s"
    return round(float(match.group("number")) * _UNIT_MS[unit])


def merge_maps(*maps: Mapping[str, str]) -> dict[str, str]:
    """Later maps win: preset < mapping file < ``--map``."""
    merged: dict[str, str] = {}
    for mapping in maps:
        merged.update(mapping)
    return merged

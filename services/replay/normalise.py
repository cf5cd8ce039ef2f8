"""Turn a history file's columns into ``Transaction`` fields, sorted by event time.

Where each field comes from, first match wins:

1. ``--map field=column`` (and ``--map-file``), then the preset's column;
2. a file column with the field's own name (``card_id``, ``amount``, ...);
3. a derivation: the preset's (e.g. Sparkov's MCC from ``category``), then the
   generic ones: ``customer_id`` = the card id (one customer per card) and
   ``tx_id`` = ``row-`` + a 128-bit BLAKE2b hash of the row's columns and
   values, the label column excluded, so a corrected label keeps the id.
   Identical rows get the same id: that is deliberate, a duplicated export
   line is the same payment and the feature store's tx-id dedup absorbs it;
4. a default for ``country`` (``--default-country``, no built-in value: a
   wrong country poisons geo rules), ``channel`` (``--default-channel``,
   built-in ``pos``) and ``currency`` (``--default-currency``, built-in
   ``EUR``); defaults also fill empty cells of a mapped column.

Labels come from a label column; each is known ``--label-delay`` after its
transaction, unless a ``label_known_at_ms`` column (as ``--out`` writes)
gives the time: a non-empty cell there wins over the delay.

Whole-file problems (a required field with no source, an unknown column)
raise ``ReplayInputError``. Cell problems never do: they stay in the frame,
and ``services.replay.records`` turns each into a row error.
"""

from __future__ import annotations

import difflib
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services.replay.cells import cell_text, is_missing, parse_flag
from services.replay.exceptions import ReplayInputError
from services.replay.options import LABEL_KNOWN_AT_COLUMN, ReplayOptions, TimeUnit, merge_maps
from services.replay.presets import Preset, preset_named
from services.replay.reader import detect_format, na_spellings_as_missing, read_table
from services.replay.timecols import to_epoch_ms

__all__ = [
    "FLOAT_FIELDS",
    "KNOWN_AT",
    "POSITION",
    "PROBLEM",
    "LABEL",
    "TEXT_FIELDS",
    "TIME_FIELDS",
    "NormalisedFrame",
    "normalise",
    "normalise_file",
]

TEXT_FIELDS = (
    "tx_id", "card_id", "customer_id", "currency", "merchant_id", "terminal_id", "mcc",
    "country", "channel", "card_bin", "device_id", "ip", "payee_id",
)  # fmt: skip
FLOAT_FIELDS = ("amount", "lat", "lon")
TIME_FIELDS = ("event_time_ms", "account_created_ms")
#: Fields a file must provide (or a default must fill); the rest are optional or derived.
_REQUIRED = ("event_time_ms", "card_id", "amount", "merchant_id", "country")
_BUILT_IN_DEFAULTS = {"channel": "pos", "currency": "EUR"}

#: Extra columns of the normalised frame: position in the file, label, when the label
#: became known (epoch ms, <NA> = event time + the label delay), first cell problem.
POSITION = "_position"
LABEL = "_label"
KNOWN_AT = "_label_known_at"
PROBLEM = "_problem"
_AUTO_LABEL_COLUMN = "is_fraud"


@dataclass(frozen=True)
class NormalisedFrame:
    """Transaction fields as columns, stably sorted by event time, cells not yet validated.

    ``frame[PROBLEM]`` holds ``(field, problem)`` for cells that could not be read;
    ``frame[LABEL]`` holds True/False/None and ``frame[KNOWN_AT]`` the label's known time
    from the file (``<NA>``: use the delay). ``raw`` is the file as read, for dead letters.
    """

    frame: pd.DataFrame
    raw: pd.DataFrame
    source: str
    #: Field -> where its values come from ("column amt", "derived", "default US").
    provenance: Mapping[str, str]
    time_read_as: str
    shift_ms: int
    label_column: str | None
    label_delay_ms: int
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.frame)


def normalise_file(path: Path, options: ReplayOptions) -> NormalisedFrame:
    """Read ``path`` (CSV or Parquet) and normalise it with ``options``."""
    raw = read_table(path, options.file_format, options.limit)
    csv = detect_format(path, options.file_format) == "csv"
    return normalise(raw, options, source=str(path), na_spellings=csv)


def normalise(
    raw: pd.DataFrame,
    options: ReplayOptions,
    *,
    source: str = "<frame>",
    na_spellings: bool = False,
) -> NormalisedFrame:
    """``na_spellings``: ``raw`` is CSV text, where pandas' NA spellings mean missing
    (``NA`` stays Namibia in the country field: see ``services.replay.reader``)."""
    preset = preset_named(options.preset)
    raw = raw.reset_index(drop=True)
    notes: list[str] = []
    label_column = _label_column(raw, options, preset)
    columns, provenance = _sources(raw, options, preset, label_column, notes)
    known_at_column = _known_at_column(raw, label_column)
    # Decided per field, after the mapping: a country column mapped from any name keeps NA.
    # The label columns are read from `cells`; `raw` keeps the text (row hashes, dead letters).
    cells = raw
    if na_spellings:
        columns = {name: na_spellings_as_missing(values, name) for name, values in columns.items()}
        label_columns = [column for column in (label_column, known_at_column) if column]
        cells = raw.copy(deep=False)
        for column in label_columns:
            cells[column] = na_spellings_as_missing(raw[column])
    frame = pd.DataFrame(index=raw.index)
    problems: list[tuple[str, str] | None] = [None] * len(raw)

    for name, values in columns.items():
        if name in TEXT_FIELDS:
            frame[name] = _as_text(name, values)
        elif name in FLOAT_FIELDS:
            frame[name] = _as_float(values)
    time_read_as = "-"
    for name in TIME_FIELDS:
        if name not in columns:
            continue
        unit = options.time_unit if name == "event_time_ms" else "auto"
        millis, how = _read_times(columns[name], unit, f"$.{name}", problems)
        if name == "event_time_ms":
            time_read_as = how
        frame[name] = millis

    _fill_defaults(frame, options, preset, provenance)
    _derive_generic(frame, raw, (label_column, known_at_column), provenance)
    frame[LABEL] = _labels(cells, label_column, problems, options.labels)
    frame[KNOWN_AT] = _label_known_times(cells, known_at_column, problems, notes)
    frame[PROBLEM] = pd.Series(problems, index=raw.index, dtype="object")
    frame[POSITION] = np.arange(len(raw))

    duplicates = int(frame["tx_id"].dropna().duplicated().sum())
    if duplicates:
        notes.append(
            f"{duplicates} row(s) repeat an earlier row's tx_id: downstream dedup counts each "
            "id once (identical rows hash to the same derived id on purpose)"
        )
    frame = frame.sort_values("event_time_ms", kind="stable", na_position="last")
    shift_ms = _rebase_shift(frame, options, preset)
    if shift_ms:
        for name in (*TIME_FIELDS, KNOWN_AT):
            if name in frame:
                frame[name] = frame[name] + shift_ms
        notes.append(f"times shifted by {shift_ms / 86_400_000:+.2f} days to end now")
    return NormalisedFrame(
        frame=frame.reset_index(drop=True),
        raw=raw,
        source=source,
        provenance=provenance,
        time_read_as=time_read_as,
        shift_ms=shift_ms,
        label_column=label_column,
        label_delay_ms=options.label_delay_ms,
        notes=notes,
    )


def _sources(
    raw: pd.DataFrame,
    options: ReplayOptions,
    preset: Preset | None,
    label_column: str | None,
    notes: list[str],
) -> tuple[dict[str, pd.Series], dict[str, str]]:
    available = list(raw.columns)
    for target, column in options.column_map.items():
        if column not in raw.columns:
            close = difflib.get_close_matches(column, available, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ReplayInputError(
                f"--map {target}={column}: no column {column!r} in the file{hint}; "
                f"columns are: {', '.join(available)}"
            )
    preset_columns = {}
    if preset is not None:
        for target, column in preset.columns.items():
            if column in raw.columns:
                preset_columns[target] = column
            else:
                notes.append(f"preset {preset.name}: no column {column!r}, {target} not from it")
    mapping = merge_maps(preset_columns, options.column_map)
    columns: dict[str, pd.Series] = {}
    provenance: dict[str, str] = {}
    for target, column in mapping.items():
        columns[target] = raw[column]
        provenance[target] = f"column {column}"
    for name in (*TEXT_FIELDS, *FLOAT_FIELDS, *TIME_FIELDS):
        if name not in columns and name in raw.columns and name != label_column:
            columns[name] = raw[name]
            provenance[name] = f"column {name}"
    if preset is not None:
        for name, derive in preset.derived.items():
            if name in columns:
                continue
            derived = derive(raw)
            if derived is not None:
                columns[name] = derived
                provenance[name] = f"derived ({preset.name})"
    return columns, provenance


def _read_times(
    values: pd.Series, unit: TimeUnit, field: str, problems: list[tuple[str, str] | None]
) -> tuple[pd.Series, str]:
    """``values`` as epoch ms; each cell that holds something unreadable becomes a problem."""
    millis, how = to_epoch_ms(values, unit)
    unreadable = millis.isna().to_numpy() & ~_missing(values)
    for position in np.flatnonzero(unreadable):
        if problems[position] is None:
            value = values.iat[position]
            problems[position] = (
                field,
                f"cannot read {value!r} as a time (the column is read as {how})",
            )
    return millis, how


def _as_text(name: str, values: pd.Series) -> pd.Series:
    text = _text_cells(values)
    if name in ("country", "currency"):
        return _map_cells(text, lambda v: v.upper() if isinstance(v, str) else None)
    if name == "channel":
        return _map_cells(text, lambda v: v.lower() if isinstance(v, str) else None)
    if name == "mcc":
        # An MCC read from a numeric column lost its leading zero (0742 -> 742).
        return _map_cells(text, lambda v: v.zfill(4) if isinstance(v, str) and v.isdigit() else v)
    return text


def _text_cells(values: pd.Series) -> pd.Series:
    """Every cell as trimmed text, or None when missing or blank (see ``cell_text``)."""
    if isinstance(values.dtype, pd.StringDtype):  # CSV columns: one vectorised pass
        stripped = values.str.strip()
        present = (stripped.notna() & stripped.ne("")).to_numpy(dtype=bool)
        cells = stripped.astype("object").to_numpy()
        return pd.Series(np.where(present, cells, None), index=values.index, dtype="object")
    return _map_cells(values, cell_text)


def _map_cells(values: pd.Series, function: Callable[[Any], Any]) -> pd.Series:
    """``function`` over every cell; unlike ``Series.map`` a returned None stays None."""
    cells = [function(value) for value in values.astype("object").tolist()]
    return pd.Series(cells, index=values.index, dtype="object")


def _as_float(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    finite = np.isfinite(numbers.to_numpy())
    cells = numbers.astype("object").where(finite, None)
    # Keep what could not be read: the contract check then names the field and the value.
    unreadable = ~finite & ~_missing(values)
    return cells.where(~unreadable, _map_cells(values, str))


def _missing(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.StringDtype):
        blank = values.isna() | values.str.strip().eq("")
        return np.asarray(blank.to_numpy(dtype=bool, na_value=True), dtype=bool)
    return np.array([is_missing(value) for value in values.astype("object").tolist()], dtype=bool)


def _fill_defaults(
    frame: pd.DataFrame, options: ReplayOptions, preset: Preset | None, provenance: dict[str, str]
) -> None:
    chosen = {
        "country": options.default_country or (preset.country if preset else None),
        "channel": options.default_channel or (preset.channel if preset else None),
        "currency": options.default_currency or (preset.currency if preset else None),
    }
    for name, value in chosen.items():
        value = value or _BUILT_IN_DEFAULTS.get(name)
        if value is None:
            continue
        value = value.lower() if name == "channel" else value.upper()
        if name not in frame:
            frame[name] = value
            provenance[name] = f"default {value}"
        elif frame[name].isna().any():
            frame[name] = frame[name].where(frame[name].notna(), value)
            provenance[name] += f", empty cells default {value}"
    missing = [name for name in _REQUIRED if name not in frame]
    if missing:
        hints = {"country": " (or --default-country XX)"}
        raise ReplayInputError(
            "no source for required field(s): "
            + ", ".join(f"{name}{hints.get(name, '')}" for name in missing)
            + "; map them with --map field=column or pick a --preset"
        )


def _derive_generic(
    frame: pd.DataFrame,
    raw: pd.DataFrame,
    label_columns: tuple[str | None, ...],
    provenance: dict[str, str],
) -> None:
    if "customer_id" not in frame:
        frame["customer_id"] = frame["card_id"]
        provenance["customer_id"] = "derived (card id)"
    elif frame["customer_id"].isna().any():
        frame["customer_id"] = frame["customer_id"].where(
            frame["customer_id"].notna(), frame["card_id"]
        )
        provenance["customer_id"] += ", empty cells from the card id"
    if "tx_id" not in frame:
        frame["tx_id"] = _row_hashes(raw, label_columns)
        provenance["tx_id"] = "derived (hash of the row)"
    elif frame["tx_id"].isna().any():
        frame["tx_id"] = frame["tx_id"].where(
            frame["tx_id"].notna(), _row_hashes(raw, label_columns)
        )
        provenance["tx_id"] += ", empty cells from a hash of the row"


def _row_hashes(raw: pd.DataFrame, label_columns: tuple[str | None, ...]) -> pd.Series:
    # The label's columns stay out of the hash: correcting a label keeps the payment's id.
    names = sorted(column for column in raw.columns if column not in label_columns)
    cells = [_text_cells(raw[name]).tolist() for name in names]
    hashes = []
    for values in zip(*cells, strict=True):
        text = "\x1f".join(
            f"{name}\x1e{value if isinstance(value, str) else ''}"
            for name, value in zip(names, values, strict=True)
        )
        hashes.append("row-" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest())
    return pd.Series(hashes, index=raw.index, dtype="object")


def _label_column(raw: pd.DataFrame, options: ReplayOptions, preset: Preset | None) -> str | None:
    if not options.labels:
        return None
    chosen = options.label_column or (preset.label_column if preset else None)
    if chosen is None:
        return _AUTO_LABEL_COLUMN if _AUTO_LABEL_COLUMN in raw.columns else None
    if chosen not in raw.columns:
        if options.label_column is None:
            return None  # the preset's label column is optional: unlabelled history is fine
        raise ReplayInputError(f"--label-column {chosen}: no such column in the file")
    return chosen


def _labels(
    raw: pd.DataFrame, column: str | None, problems: list[tuple[str, str] | None], enabled: bool
) -> pd.Series:
    if column is None or not enabled:
        return pd.Series(None, index=raw.index, dtype="object")
    labels: list[bool | None] = []
    for position, value in enumerate(raw[column].astype("object").tolist()):
        try:
            labels.append(parse_flag(value))
        except ValueError as exc:
            labels.append(None)
            if problems[position] is None:
                problems[position] = ("$.is_fraud", f"label column {column!r}: {exc}")
    return pd.Series(labels, index=raw.index, dtype="object")


def _known_at_column(raw: pd.DataFrame, label_column: str | None) -> str | None:
    """The column of label known times, when the file has one and labels are read."""
    if label_column is None or LABEL_KNOWN_AT_COLUMN not in raw.columns:
        return None
    return LABEL_KNOWN_AT_COLUMN


def _label_known_times(
    raw: pd.DataFrame,
    column: str | None,
    problems: list[tuple[str, str] | None],
    notes: list[str],
) -> pd.Series:
    """Each label's known time from ``column``; ``<NA>`` where the delay decides."""
    if column is None:
        return pd.Series(pd.NA, index=raw.index, dtype="Int64")
    notes.append(f"labels known at the times in column {column}; --label-delay fills empty cells")
    millis, _ = _read_times(raw[column], "auto", f"$.{column}", problems)
    return millis


def _rebase_shift(frame: pd.DataFrame, options: ReplayOptions, preset: Preset | None) -> int:
    rebase = (
        options.rebase_now if options.rebase_now is not None else bool(preset and preset.rebase_now)
    )
    times = frame["event_time_ms"].dropna()
    if not rebase or times.empty:
        return 0
    now_ms = options.now_ms if options.now_ms is not None else time.time_ns() // 1_000_000
    return int(now_ms - int(times.max()))

"""Read a time column in any common form as epoch milliseconds (UTC).

Accepted: pandas/Arrow datetimes (naive ones are taken as UTC), ISO-8601
strings (``2024-05-01 13:45:00``, ``2024-05-01T13:45:00+02:00``), and epoch
numbers in seconds, milliseconds, microseconds or nanoseconds. With unit
``auto`` the epoch unit comes from the median magnitude: a 2020s instant is
~1.7e9 in s, ~1.7e12 in ms, ~1.7e15 in us, ~1.7e18 in ns, so the decades
between the thresholds below leave no room for doubt.

A text column in ``auto`` mode is read in the form most of its cells have
(epoch numbers or ISO text), and each cell in that form: a typo among a
million epoch numbers costs its own row, not the whole column.

Values that cannot be read come back as ``<NA>``; the caller turns each into
a row error naming the original value. Nothing is dropped here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.replay.exceptions import ReplayInputError
from services.replay.options import TimeUnit

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["detect_epoch_unit", "to_epoch_ms"]

_MS_PER_UNIT = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
# Anything past this is not a time in any unit (and would overflow int64 as ms).
_MAX_ABS_MS = 2.0**62


def detect_epoch_unit(magnitude: float) -> str:
    """The epoch unit of a typical value's magnitude (see the module docstring)."""
    if magnitude < 1e11:
        return "s"
    if magnitude < 1e14:
        return "ms"
    if magnitude < 1e17:
        return "us"
    return "ns"


def to_epoch_ms(values: pd.Series, unit: TimeUnit = "auto") -> tuple[pd.Series, str]:
    """``(Int64 epoch-ms series with <NA> where unreadable, how the column was read)``."""
    import pandas as pd

    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        return _from_datetimes(values), "datetime"
    if pd.api.types.is_bool_dtype(values):
        raise ReplayInputError("a time column cannot be boolean")
    if pd.api.types.is_numeric_dtype(values):
        if unit == "iso":
            raise ReplayInputError("--time-unit iso was given but the time column is numeric")
        return _from_epoch(values.astype("float64"), unit)
    text = values.astype("object")
    if unit == "iso":
        return _from_iso(text), "iso"
    numbers = pd.to_numeric(text, errors="coerce")
    if unit != "auto":
        return _from_epoch(numbers, unit)
    return _in_the_commoner_form(text, numbers)


def _in_the_commoner_form(text: pd.Series, numbers: pd.Series) -> tuple[pd.Series, str]:
    """Read ``text`` as epoch numbers or as ISO text, whichever reads more of its cells.

    Cells the chosen form cannot read become ``<NA>`` (a row error each), whatever
    the other form would make of them: a column mixing the two is more likely a
    bad export than a deliberate mixture.
    """
    present = _present(text)
    numeric = int((numbers.notna() & present).sum())
    if numeric * 2 > int(present.sum()):  # a majority already: no need to try ISO
        return _from_epoch(numbers.where(present), "auto")
    iso = _from_iso(text)
    if int(iso.notna().sum()) >= numeric:  # a tie goes to ISO, which states its own unit
        return iso, "iso"
    return _from_epoch(numbers.where(present), "auto")


def _present(text: pd.Series) -> pd.Series:
    """Cells that hold something: not missing and not blank."""
    return text.notna() & text.astype(str).str.strip().ne("")


def _from_epoch(numbers: pd.Series, unit: TimeUnit) -> tuple[pd.Series, str]:
    import numpy as np

    finite = numbers.where(np.isfinite(numbers))
    if unit == "auto":
        present = finite.dropna()
        resolved = detect_epoch_unit(float(present.abs().median())) if len(present) else "ms"
    else:
        resolved = unit
    millis = (finite * _MS_PER_UNIT[resolved]).round()
    millis = millis.where(millis.abs() < _MAX_ABS_MS)
    return millis.astype("Int64"), f"epoch {resolved}"


def _from_iso(text: pd.Series) -> pd.Series:
    import pandas as pd

    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    return _from_datetimes(parsed)


def _from_datetimes(values: pd.Series) -> pd.Series:
    import pandas as pd

    millis = pd.Series(pd.NA, index=values.index, dtype="Int64")
    present = values.notna()
    if present.any():
        # Naive datetimes are taken as UTC: as_unit keeps the wall time, int64 reads it as UTC.
        millis[present] = values[present].dt.as_unit("ms").astype("int64")
    return millis

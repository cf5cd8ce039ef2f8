"""Reading one cell of a history file: missing values, text, truthy/falsy labels.

Pure functions with no pandas import, shared by presets and the normaliser.
"""

from __future__ import annotations

import math

__all__ = ["FALSY", "TRUTHY", "cell_text", "is_missing", "parse_flag"]

#: Accepted spellings of a label, compared case-insensitively after trimming.
TRUTHY = frozenset({"1", "1.0", "true", "t", "yes", "y", "fraud", "fraudulent"})
FALSY = frozenset({"0", "0.0", "false", "f", "no", "n", "legit", "legitimate", "genuine"})


def is_missing(value: object) -> bool:
    """None, NaN, pandas' NA/NaT, or a blank string."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(value != value)  # NaT and pd.NA are not equal to themselves
    except TypeError:  # pd.NA refuses bool(): it is missing
        return True
    except ValueError:  # an array cell (ambiguous truth value) is a value
        return False


def cell_text(value: object) -> str | None:
    """A cell as an identifier: trimmed text, integral floats without ``.0`` (``4.1e15``
    read from a float column is a card number, not ``4100000000000000.0``)."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_flag(value: object) -> bool | None:
    """A label cell: True, False, or None when missing. Raises ``ValueError`` otherwise."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUTHY:
        return True
    if text in FALSY:
        return False
    raise ValueError(
        f"cannot read {value!r} as a label (true: {', '.join(sorted(TRUTHY))}; "
        f"false: {', '.join(sorted(FALSY))})"
    )

"""Load a CSV or Parquet history file into a DataFrame, as faithfully as possible.

CSV columns are read as text: identifiers keep their leading zeros (MCC
``0742``, BIN ``004512``) and long card numbers never pass through a float.
The normaliser converts each column to the type its field needs and turns
what it cannot convert into a row error, instead of pandas guessing silently.

A blank CSV cell is missing, and so is a cell spelled as one of pandas' default
NA spellings (``NA``, ``NULL``, ``None``, ``nan``, ``N/A``, ...: ``NA_SPELLINGS``)
in every field except where the spelling is a real value of the field: ``NA`` is
Namibia in ``country``. The normaliser applies this per ``Transaction`` field,
after the column mapping, so ``read_table`` keeps the text; Parquet has typed
nulls and its text is never read as missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from services.replay.exceptions import ReplayInputError
from services.replay.options import FileFormat

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NA_SPELLINGS", "detect_format", "na_spellings_as_missing", "read_table"]

#: pandas' default NA spellings for ``read_csv`` (``pandas._libs.parsers.STR_NA_VALUES``
#: less the empty string), listed here so that a pandas upgrade cannot change them.
NA_SPELLINGS = frozenset({
    "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})  # fmt: skip
#: Per field, the NA spellings that are real values of it: 2-letter ISO codes.
_SPELLINGS_THAT_ARE_VALUES: dict[str, frozenset[str]] = {"country": frozenset({"NA"})}

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.zip", ".csv.bz2", ".csv.xz", ".tsv", ".txt")


def detect_format(path: Path, file_format: FileFormat = "auto") -> Literal["csv", "parquet"]:
    if file_format != "auto":
        return file_format
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    raise ReplayInputError(
        f"cannot tell the format of {path.name} from its name; give --format csv or parquet"
    )


def read_table(
    path: Path, file_format: FileFormat = "auto", limit: int | None = None
) -> pd.DataFrame:
    """The file's rows in file order, with a fresh 0..n-1 index."""
    import pandas as pd

    if not path.is_file():
        raise ReplayInputError(f"no such file: {path}")
    kind = detect_format(path, file_format)
    try:
        if kind == "csv":
            separator = "\t" if path.name.lower().endswith(".tsv") else ","
            frame = pd.read_csv(
                path,
                dtype=str,
                sep=separator,
                nrows=limit,
                keep_default_na=False,
                na_values=[""],
            )
        else:
            frame = pd.read_parquet(path)
            if limit is not None:
                frame = frame.head(limit)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ReplayInputError(f"cannot read {path} as {kind}: {exc}") from exc
    except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
        raise ReplayInputError(f"reading {kind} needs pyarrow: {exc}") from exc
    if frame.columns.duplicated().any():
        duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise ReplayInputError(f"{path.name} has duplicate column names: {', '.join(duplicated)}")
    frame.columns = [str(column) for column in frame.columns]
    return frame.reset_index(drop=True)


def na_spellings_as_missing(values: pd.Series, field: str | None = None) -> pd.Series:
    """``values`` (CSV text feeding ``field``) with each cell that is, trimmed, one of
    ``NA_SPELLINGS`` made missing, except the spellings that are values of ``field``."""
    import pandas as pd

    spellings = NA_SPELLINGS - _SPELLINGS_THAT_ARE_VALUES.get(field or "", frozenset())
    if isinstance(values.dtype, pd.StringDtype):
        trimmed = values.str.strip()
    elif values.dtype == object:
        trimmed = values.map(lambda value: value.strip() if isinstance(value, str) else None)
    else:  # numbers, times, booleans: no text to misread
        return values
    spelled = trimmed.isin(spellings).to_numpy(dtype=bool, na_value=False)
    return values.mask(spelled) if spelled.any() else values

"""Load a CSV or Parquet history file into a DataFrame, as faithfully as possible.

CSV columns are read as text: identifiers keep their leading zeros (MCC
``0742``, BIN ``004512``) and long card numbers never pass through a float.
The normaliser converts each column to the type its field needs and turns
what it cannot convert into a row error, instead of pandas guessing silently.

Only an empty CSV cell is missing. pandas' default NA spellings (``NA``,
``NULL``, ``None``, ``nan``, ``N/A``, ...) are values here: ``NA`` is
Namibia's country code, and a merchant may well be called ``NULL``. Parquet
has typed nulls and pandas never reads its text as missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from services.replay.exceptions import ReplayInputError
from services.replay.options import FileFormat

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["detect_format", "read_table"]

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

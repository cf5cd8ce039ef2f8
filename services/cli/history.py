"""History files for the commands: what `simulate --out` / `replay --out` write, train reads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["find_history_file", "read_table"]


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame (by suffix)."""
    import pandas as pd

    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def find_history_file(directory: Path, stem: str) -> Path:
    """``directory/stem.parquet`` or ``.csv``, whichever exists."""
    for suffix in (".parquet", ".csv"):
        path = directory / f"{stem}{suffix}"
        if path.is_file():
            return path
    raise click.BadParameter(
        f"no {stem}.parquet or {stem}.csv in {directory}", param_hint="HISTORY"
    )

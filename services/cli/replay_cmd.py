"""``fraudstream replay FILE``: stream a history of transactions into Kafka.

Cheap to import: pandas, pyarrow and the Kafka client load inside the command.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import cast

import click

from contracts.events import CHANNELS
from services.replay.options import (
    DEFAULT_LABEL_DELAY_MS,
    ON_ERROR_CHOICES,
    TIME_UNIT_CHOICES,
    TRANSACTION_FIELDS,
    FileFormat,
    OnError,
    ReplayOptions,
    TimeUnit,
    load_map_file,
    merge_maps,
    parse_duration_ms,
    parse_map_items,
)
from services.replay.presets import PRESETS

__all__ = ["replay"]

_FIELDS = textwrap.fill(
    ", ".join(TRANSACTION_FIELDS), width=76, initial_indent="  ", subsequent_indent="  "
)
_EPILOG = f"""
\b
Fields (map file columns onto them with --map field=column):
{_FIELDS}

Required: event_time_ms, card_id, amount, merchant_id, and country (or
--default-country). customer_id defaults to the card id; tx_id to a hash of
the row; channel to --default-channel (pos); currency to --default-currency
(EUR); a column named like a field is used without mapping.

\b
Examples:
  fraudstream replay fraudTrain.csv --preset sparkov --limit 100000 --dry-run
  fraudstream replay fraudTrain.csv --preset sparkov --out data/sparkov.parquet --dry-run
  fraudstream replay history.parquet --map card_id=pan_token,amount=amt_eur \\
      --default-country DE --speed 60 --on-error dead-letter
"""


@click.command("replay", epilog=_EPILOG)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--preset",
    type=click.Choice(sorted(PRESETS)),
    help="A known dataset layout. "
    + " ".join(f"{p.name}: {p.description}" for p in PRESETS.values()),
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="FIELD=COLUMN[,...]",
    help="Take FIELD from COLUMN; repeatable; wins over --map-file and the preset.",
)
@click.option(
    "--map-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML mapping of field: column (same meaning as --map).",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["auto", "csv", "parquet"]),
    default="auto",
    show_default=True,
    help="File format; auto goes by the file name.",
)
@click.option(
    "--time-unit",
    type=click.Choice(TIME_UNIT_CHOICES),
    default="auto",
    show_default=True,
    help="Event-time column: epoch s/ms/us/ns, iso (ISO-8601 text), or auto (datetimes, "
    "ISO text, or an epoch unit told by magnitude). Times without a zone are UTC.",
)
@click.option("--default-country", metavar="CC", help="ISO country for rows without one.")
@click.option(
    "--default-channel",
    type=click.Choice(CHANNELS),
    help="Channel for rows without one [default: pos].",
)
@click.option(
    "--default-currency", metavar="CCY", help="ISO currency for rows without one [default: EUR]."
)
@click.option(
    "--label-column",
    metavar="COLUMN",
    help="Fraud label column (1/0, true/false, yes/no, fraud/legit) "
    "[default: the preset's, else is_fraud when present].",
)
@click.option("--no-labels", is_flag=True, help="Send no labels, even if the file has some.")
@click.option(
    "--label-delay",
    default="7d",
    show_default=True,
    help="How long after its transaction a label becomes known (known_at_ms = event time "
    "+ delay), like chargebacks: 7d, 36h, 90m, 0. A label_known_at_ms column (as --out "
    "writes) wins where it has a value.",
)
@click.option(
    "--rebase-now/--no-rebase-now",
    default=None,
    help="Shift the whole history so its last event happens now, so windows see recent "
    "times [default: off; on with --preset sparkov].",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="N x real time between event times (60 = one hour per minute); 0 = flat out.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="At most this many messages per second; 0 = no cap.",
)
@click.option(
    "--on-error",
    type=click.Choice(ON_ERROR_CHOICES),
    default="fail",
    show_default=True,
    help="Rows that fail validation. fail: send nothing, list them. skip: send the rest, "
    "report them. dead-letter: as skip, and send each raw row to the dead-letter topic "
    "with the reason in its headers.",
)
@click.option("--dry-run", is_flag=True, help="Validate and report only; no broker needed.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the normalised, validated transactions (with labels) to this .parquet.",
)
@click.option(
    "--errors-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every rejected row (row, field, problem) to this CSV file.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Read only the first N data rows.")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar [default: on a terminal]."
)
def replay(
    file: Path,
    preset: str | None,
    maps: tuple[str, ...],
    map_file: Path | None,
    file_format: str,
    time_unit: str,
    default_country: str | None,
    default_channel: str | None,
    default_currency: str | None,
    label_column: str | None,
    no_labels: bool,
    label_delay: str,
    rebase_now: bool | None,
    speed: float,
    rate: float,
    on_error: str,
    dry_run: bool,
    out: Path | None,
    errors_out: Path | None,
    limit: int | None,
    progress: bool | None,
) -> None:
    """Stream a CSV or Parquet history of transactions into the transactions topic.

    Rows are validated against the Transaction contract, sorted by event time
    (stable) and produced keyed by card id; a label column becomes Label
    events on the labels topic, each known --label-delay after its
    transaction (or at its label_known_at_ms, when the file has that
    column). Ends with a report: rows, rejections (with row number, field
    and problem), messages the broker confirmed, delivery errors.
    """
    if out is not None and out.suffix.lower() != ".parquet":
        raise click.BadParameter("the output file must end in .parquet", param_hint="--out")
    options = ReplayOptions(
        preset=preset,
        column_map=merge_maps(load_map_file(map_file) if map_file else {}, parse_map_items(maps)),
        time_unit=cast(TimeUnit, time_unit),
        default_country=default_country,
        default_channel=default_channel,
        default_currency=default_currency,
        label_column=label_column,
        labels=not no_labels,
        label_delay_ms=parse_duration_ms(label_delay) if label_delay else DEFAULT_LABEL_DELAY_MS,
        rebase_now=rebase_now,
        limit=limit,
        file_format=cast(FileFormat, file_format),
    )

    from contracts.settings import load_settings
    from services.replay.normalise import normalise_file
    from services.replay.pacing import Pacer
    from services.replay.runner import run_replay
    from services.replay.sink import KafkaReplaySink

    normalised = normalise_file(file, options)
    sink = None if dry_run else KafkaReplaySink(load_settings().kafka, source_file=str(file))
    report = run_replay(
        normalised,
        sink=sink,
        on_error=cast(OnError, on_error),
        pacer=None if dry_run else Pacer(speed=speed, rate=rate),
        out=out,
        errors_out=errors_out,
        progress=progress,
    )
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise click.exceptions.Exit(1)

"""Drive one replay: validated rows -> paced stream -> sink, files and a report.

Policies for rows that fail validation (none is a silent drop):

* ``fail``: every row is validated first; if any fails, nothing is sent or
  written and ``RowsRejectedError`` lists them. A half-replayed history is
  worse than none, so this is the default.
* ``skip``: valid rows are sent; each rejected row is counted and reported.
* ``dead-letter``: as ``skip``, and each rejected row also goes to the
  dead-letter topic with its reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from contracts.events import Label
from services.replay.exceptions import RowsRejectedError
from services.replay.normalise import NormalisedFrame
from services.replay.options import OnError
from services.replay.output import ParquetWriter, RejectionsCsv
from services.replay.pacing import Pacer
from services.replay.records import (
    AcceptedRow,
    RejectedRow,
    Rejection,
    interleave_labels,
    iter_rows,
)
from services.replay.sink import ReplaySink

__all__ = ["MAX_EXAMPLES", "ReplayReport", "run_replay"]

#: Rejections kept in the report itself; ``--errors-out`` writes all of them.
MAX_EXAMPLES = 20


@dataclass
class ReplayReport:
    source: str
    rows: int
    on_error: OnError
    dry_run: bool
    time_read_as: str = "-"
    shift_ms: int = 0
    provenance: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    labels: int = 0
    examples: list[Rejection] = field(default_factory=list)
    #: Acknowledged by the broker, by kind: transactions, labels, dead_letters.
    delivered: Counter[str] = field(default_factory=Counter)
    delivery_errors: int = 0
    first_delivery_error: str | None = None
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    written: int | None = None

    @property
    def ok(self) -> bool:
        return self.delivery_errors == 0 and (self.on_error != "fail" or self.rejected == 0)

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(rejection)

    def lines(self) -> list[str]:
        """The report as a human reads it at the end of a run."""
        fields = ", ".join(f"{name} <- {where}" for name, where in sorted(self.provenance.items()))
        lines = [
            f"source      {self.source}: {self.rows} rows, event time read as {self.time_read_as}",
            f"fields      {fields}",
            *(f"note        {note}" for note in self.notes),
        ]
        if self.first_event_ms is not None and self.last_event_ms is not None:
            lines.append(f"event time  {_iso(self.first_event_ms)} .. {_iso(self.last_event_ms)}")
        lines.append(
            f"validated   {self.accepted} transactions, {self.labels} labels, "
            f"{self.rejected} rejected (--on-error {self.on_error})"
        )
        lines.extend(f"  {rejection}" for rejection in self.examples)
        if self.rejected > len(self.examples):
            lines.append(f"  ... and {self.rejected - len(self.examples)} more (--errors-out FILE)")
        if self.dry_run:
            lines.append("sent        nothing (dry run)")
        else:
            sent = ", ".join(
                f"{kind} {self.delivered[kind]}"
                for kind in ("transactions", "labels", "dead_letters")
            )
            lines.append(f"sent        {sent}; delivery errors {self.delivery_errors}")
            if self.first_delivery_error:
                lines.append(f"  first delivery error: {self.first_delivery_error}")
        if self.written is not None:
            lines.append(f"written     {self.written} transactions")
        return lines


def run_replay(
    normalised: NormalisedFrame,
    *,
    sink: ReplaySink | None,
    on_error: OnError = "fail",
    pacer: Pacer | None = None,
    out: Path | None = None,
    errors_out: Path | None = None,
    progress: bool | None = None,
) -> ReplayReport:
    """Replay ``normalised`` into ``sink`` (``None`` = dry run) and report what happened.

    ``progress``: ``None`` shows the bar only on a terminal.
    """
    report = ReplayReport(
        source=normalised.source,
        rows=normalised.rows,
        on_error=on_error,
        dry_run=sink is None,
        time_read_as=normalised.time_read_as,
        shift_ms=normalised.shift_ms,
        provenance=dict(normalised.provenance),
        notes=list(normalised.notes),
    )
    rejections = RejectionsCsv(errors_out) if errors_out else None
    try:
        if on_error == "fail":
            _prescan(normalised, report, rejections)
        _stream(normalised, report, sink, on_error, pacer or Pacer(), out, rejections, progress)
    finally:
        if rejections is not None:
            rejections.close()
    return report


def _prescan(
    normalised: NormalisedFrame, report: ReplayReport, rejections: RejectionsCsv | None
) -> None:
    for row in iter_rows(normalised):
        if isinstance(row, RejectedRow):
            report.reject(row.rejection)
            if rejections is not None:
                rejections.write(row.rejection)
    if report.rejected:
        raise RowsRejectedError(report.rejected, report.examples)


def _stream(
    normalised: NormalisedFrame,
    report: ReplayReport,
    sink: ReplaySink | None,
    on_error: OnError,
    pacer: Pacer,
    out: Path | None,
    rejections: RejectionsCsv | None,
    progress: bool | None,
) -> None:
    writer = ParquetWriter(out) if out else None
    rows = iter_rows(normalised)
    try:
        disable = None if progress is None else not progress  # None: only on a terminal
        with tqdm(total=normalised.rows, unit="row", desc="replay", disable=disable) as bar:
            for pace_ms, item in interleave_labels(rows):
                if isinstance(item, AcceptedRow):
                    pacer.wait(pace_ms)
                    _accept(item, report, sink, writer)
                    bar.update(1)
                elif isinstance(item, Label):
                    pacer.wait(pace_ms)
                    if sink is not None:
                        sink.send_label(item)
                else:  # never reached under "fail": the prescan raised already
                    report.reject(item.rejection)
                    if rejections is not None:
                        rejections.write(item.rejection)
                    if on_error == "dead-letter" and sink is not None:
                        sink.send_dead_letter(item)
                    bar.update(1)
    finally:
        if sink is not None:
            sink.close()
            report.delivered = Counter(sink.delivered)
            report.delivery_errors = sink.delivery_errors
            report.first_delivery_error = sink.first_delivery_error
    if writer is not None:
        report.written = writer.close()


def _accept(
    row: AcceptedRow, report: ReplayReport, sink: ReplaySink | None, writer: ParquetWriter | None
) -> None:
    transaction = row.transaction
    report.accepted += 1
    if row.label is not None:
        report.labels += 1
    if report.first_event_ms is None:
        report.first_event_ms = transaction.event_time_ms
    report.last_event_ms = transaction.event_time_ms
    if sink is not None:
        sink.send_transaction(transaction)
    if writer is not None:
        writer.add(transaction, row.label)


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="seconds")

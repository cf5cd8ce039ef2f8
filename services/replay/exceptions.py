"""Errors of ``fraudstream replay``.

Hierarchy::

    FraudstreamError
    └── ServiceError
        └── ReplayError             replay could not run
            ├── ReplayInputError    the file, a column mapping or an option is unusable
            └── RowsRejectedError   rows failed validation under ``--on-error fail``
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from services.exceptions import ServiceError

if TYPE_CHECKING:
    from services.replay.records import Rejection

__all__ = ["ReplayError", "ReplayInputError", "RowsRejectedError"]


class ReplayError(ServiceError):
    """Root of the replay errors."""


class ReplayInputError(ReplayError):
    """The input file, a column mapping or an option cannot be used as given."""


class RowsRejectedError(ReplayError):
    """Rows failed validation and the policy is ``fail``: nothing was sent or written.

    ``rejected`` is the total count; ``examples`` the first rejections (row, field, problem).
    """

    def __init__(self, rejected: int, examples: Sequence[Rejection]) -> None:
        self.rejected = rejected
        self.examples = list(examples)
        lines = [f"  {rejection}" for rejection in self.examples]
        more = rejected - len(self.examples)
        if more > 0:
            lines.append(f"  ... and {more} more (--errors-out FILE lists them all)")
        super().__init__(
            f"{rejected} row(s) failed validation; nothing was sent "
            "(use --on-error skip or dead-letter to send the valid rows):\n" + "\n".join(lines)
        )

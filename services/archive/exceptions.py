"""Errors of the decision-log archive.

Hierarchy::

    FraudstreamError
    └── ServiceError
        └── ArchiveError        the decision log is missing, empty or unreadable
"""

from __future__ import annotations

from services.exceptions import ServiceError

__all__ = ["ArchiveError"]


class ArchiveError(ServiceError):
    """The decision log is missing, empty or unreadable."""

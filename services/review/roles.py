"""The two roles (kept apart from ``users`` so the CLI can name them without SQLAlchemy).

``analyst`` works the queue: list, view, claim, release their own claim, decide.
``admin`` does all that, manages users, releases anyone's claim, reads the audit trail.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["ROLES", "Role"]

Role = Literal["analyst", "admin"]
ROLES: tuple[Role, ...] = ("analyst", "admin")

"""Online store backends: ``memory`` and ``redis``, same plan, same semantics."""

from __future__ import annotations

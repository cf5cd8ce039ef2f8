"""The scorer: features -> models -> rules -> policy -> decisions, in micro-batches."""

from __future__ import annotations

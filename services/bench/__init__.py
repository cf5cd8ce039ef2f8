"""Benchmarks that print figures (never asserted in tests)."""

from __future__ import annotations

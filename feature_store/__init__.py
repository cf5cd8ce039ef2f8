"""feature_store."""

from __future__ import annotations


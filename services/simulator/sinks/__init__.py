"""Where simulated events go: files (Parquet/CSV with ground truth) or Kafka (paced)."""

from __future__ import annotations

__all__: list[str] = []

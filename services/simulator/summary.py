"""What a run produced: counts and shares per scenario, fraud rate, labels by source."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from contracts.events import Label, Transaction
from services.simulator.config import SCENARIOS, SimulatorConfig
from services.simulator.world import SimulatedEvent, stream_time

__all__ = ["SimulationSummary", "format_summary"]


@dataclass
class SimulationSummary:
    """Counts every event it is shown; ``as_dict`` adds shares and the configured targets."""

    transactions: int = 0
    fraud_transactions: int = 0
    messages: int = 0
    labels: int = 0
    fraud_by_scenario: Counter[str] = field(default_factory=Counter)
    episodes_by_scenario: Counter[str] = field(default_factory=Counter)
    messages_by_category: Counter[str] = field(default_factory=Counter)
    labels_by_source: Counter[str] = field(default_factory=Counter)
    fraud_labels_by_source: Counter[str] = field(default_factory=Counter)
    first_time_ms: int | None = None
    last_time_ms: int | None = None
    _episodes: set[str] = field(default_factory=set, repr=False)

    def observe(self, item: SimulatedEvent) -> None:
        event = item.event
        t = stream_time(event)
        if self.first_time_ms is None:
            self.first_time_ms = t
        self.last_time_ms = t
        if isinstance(event, Transaction):
            self.transactions += 1
            if item.is_fraud and item.scenario is not None:
                self.fraud_transactions += 1
                self.fraud_by_scenario[item.scenario] += 1
                if item.episode is not None and item.episode not in self._episodes:
                    self._episodes.add(item.episode)
                    self.episodes_by_scenario[item.scenario] += 1
        elif isinstance(event, Label):
            self.labels += 1
            self.labels_by_source[event.source] += 1
            if event.is_fraud:
                self.fraud_labels_by_source[event.source] += 1
        else:
            self.messages += 1
            self.messages_by_category[item.category or "unknown"] += 1

    @property
    def fraud_rate(self) -> float:
        return self.fraud_transactions / self.transactions if self.transactions else 0.0

    def as_dict(self, config: SimulatorConfig | None = None) -> dict[str, Any]:
        fraud = self.fraud_transactions or 1
        out: dict[str, Any] = {
            "transactions": self.transactions,
            "fraud_transactions": self.fraud_transactions,
            "fraud_rate": round(self.fraud_rate, 6),
            "scenarios": {
                name: {
                    "transactions": self.fraud_by_scenario[name],
                    "share": round(self.fraud_by_scenario[name] / fraud, 4),
                    "episodes": self.episodes_by_scenario[name],
                }
                for name in SCENARIOS
            },
            "messages": self.messages,
            "messages_by_category": dict(sorted(self.messages_by_category.items())),
            "labels": self.labels,
            "labels_by_source": dict(sorted(self.labels_by_source.items())),
            "fraud_labels_by_source": dict(sorted(self.fraud_labels_by_source.items())),
            "first_time_ms": self.first_time_ms,
            "last_time_ms": self.last_time_ms,
        }
        if config is not None:
            out["configured"] = {
                "seed": config.seed,
                "customers": config.customers,
                "start_ms": config.start_ms,
                "days": config.days,
                "fraud_rate": config.fraud_rate,
                "mix": {k: round(v, 4) for k, v in config.normalised_mix().items()},
            }
        return out


def format_summary(summary: dict[str, Any]) -> str:
    """A short human-readable report of ``SimulationSummary.as_dict``."""
    configured = summary.get("configured", {})
    target = configured.get("fraud_rate")
    mix = configured.get("mix", {})
    lines = [
        f"transactions {summary['transactions']:,}  fraud {summary['fraud_transactions']:,}"
        f"  rate {summary['fraud_rate']:.3%}"
        + (f" (target {target:.3%})" if target is not None else ""),
        f"{'scenario':<22}{'fraud tx':>9}{'share':>8}{'target':>8}{'episodes':>10}",
    ]
    for name, row in summary["scenarios"].items():
        share_target = f"{mix[name]:.1%}" if name in mix else "-"
        lines.append(
            f"{name:<22}{row['transactions']:>9,}{row['share']:>8.1%}{share_target:>8}"
            f"{row['episodes']:>10,}"
        )
    lines.append(f"messages {summary['messages']:,}  {_pairs(summary['messages_by_category'])}")
    lines.append(f"labels {summary['labels']:,}  by source: {_pairs(summary['labels_by_source'])}")
    lines.append(f"fraud labels by source: {_pairs(summary['fraud_labels_by_source'])}")
    return "\n".join(lines)


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v:,}" for k, v in counts.items()) or "none"

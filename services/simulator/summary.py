"""What a run produced: counts and shares per scenario, fraud rate, labels by source, new cards.

"First use" is a card's first transaction in the stream - exactly what the
feature store calls cold start when it replays the same stream. The report
gives their count over the run and over its last ``RECENT_DAYS`` days (the
models' default test slice), with how many of them are fraud: a cold-start
model can only be judged where both classes show up there.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from contracts.events import Label, Transaction
from services.simulator.config import SCENARIOS, SimulatorConfig
from services.simulator.world import SimulatedEvent, stream_time

__all__ = ["RECENT_DAYS", "SimulationSummary", "format_summary"]

#: "Recent" first uses: the last days of transactions, as long as the models' test slice.
RECENT_DAYS = 7
_DAY_MS = 86_400_000


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
    #: Customers whose account was opened after the stream began (joiners, fraudsters).
    new_accounts: int = 0
    #: Cards' first transactions, by day of the stream (day 0 = the first event's).
    first_uses_by_day: Counter[int] = field(default_factory=Counter)
    first_use_fraud_by_day: Counter[int] = field(default_factory=Counter)
    first_use_fraud_by_scenario: Counter[str] = field(default_factory=Counter)
    _episodes: set[str] = field(default_factory=set, repr=False)
    _cards: set[str] = field(default_factory=set, repr=False)
    _customers: set[str] = field(default_factory=set, repr=False)
    _last_tx_day: int = field(default=0, repr=False)

    def observe(self, item: SimulatedEvent) -> None:
        event = item.event
        t = stream_time(event)
        if self.first_time_ms is None:
            self.first_time_ms = t
        self.last_time_ms = t
        if isinstance(event, Transaction):
            self.transactions += 1
            self._last_tx_day = (t - self.first_time_ms) // _DAY_MS
            first_use = event.card_id not in self._cards
            if first_use:
                self._observe_first_use(item, event)
            if item.is_fraud and item.scenario is not None:
                self.fraud_transactions += 1
                self.fraud_by_scenario[item.scenario] += 1
                if first_use:
                    self.first_use_fraud_by_scenario[item.scenario] += 1
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

    def _observe_first_use(self, item: SimulatedEvent, tx: Transaction) -> None:
        self._cards.add(tx.card_id)
        self.first_uses_by_day[self._last_tx_day] += 1
        if item.is_fraud:
            self.first_use_fraud_by_day[self._last_tx_day] += 1
        if tx.customer_id not in self._customers:
            self._customers.add(tx.customer_id)
            opened = tx.account_created_ms
            # A customer's first transaction is also one of their card's first.
            if opened is not None and opened >= (self.first_time_ms or 0):
                self.new_accounts += 1

    @property
    def fraud_rate(self) -> float:
        return self.fraud_transactions / self.transactions if self.transactions else 0.0

    def _first_uses(self) -> dict[str, int]:
        """Cards' first transactions (cold starts), over the run and its last days."""
        # The last transaction's day: labels drained after the end do not move "recent".
        last_day = self._last_tx_day
        recent = range(last_day - RECENT_DAYS + 1, last_day + 1)
        return {
            "transactions": sum(self.first_uses_by_day.values()),
            "fraud": sum(self.first_use_fraud_by_day.values()),
            "recent_days": RECENT_DAYS,
            "recent_transactions": sum(self.first_uses_by_day[d] for d in recent),
            "recent_fraud": sum(self.first_use_fraud_by_day[d] for d in recent),
        }

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
                    "first_use": self.first_use_fraud_by_scenario[name],
                }
                for name in SCENARIOS
            },
            "new_accounts": self.new_accounts,
            "first_uses": self._first_uses(),
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
        f"{'scenario':<22}{'fraud tx':>9}{'share':>8}{'target':>8}{'episodes':>10}"
        f"{'first use':>11}",
    ]
    for name, row in summary["scenarios"].items():
        share_target = f"{mix[name]:.1%}" if name in mix else "-"
        lines.append(
            f"{name:<22}{row['transactions']:>9,}{row['share']:>8.1%}{share_target:>8}"
            f"{row['episodes']:>10,}{row['first_use']:>11,}"
        )
    first = summary["first_uses"]
    lines.append(
        f"new accounts {summary['new_accounts']:,}  cards' first transactions (cold start) "
        f"{first['transactions']:,} (fraud {first['fraud']:,}), in the last "
        f"{first['recent_days']} days {first['recent_transactions']:,} "
        f"(fraud {first['recent_fraud']:,})"
    )
    lines.append(f"messages {summary['messages']:,}  {_pairs(summary['messages_by_category'])}")
    lines.append(f"labels {summary['labels']:,}  by source: {_pairs(summary['labels_by_source'])}")
    lines.append(f"fraud labels by source: {_pairs(summary['fraud_labels_by_source'])}")
    return "\n".join(lines)


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v:,}" for k, v in counts.items()) or "none"

"""What a simulation run is asked to produce: population, time span, growth, fraud rate and mix.

A ``SimulatorConfig`` plus its seed fully determines the event stream: the same
config yields byte-identical events. It is validated when built; a bad value is
a ``ConfigError`` naming the option.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from contracts.errors import ConfigError

__all__ = [
    "DEFAULT_MIX",
    "ENDLESS_JOIN_SPAN_DAYS",
    "SCENARIOS",
    "SimulatorConfig",
    "parse_mix",
    "parse_start",
    "stable_hash",
]

#: The fraud scenarios the simulator knows, each with its own signature (see scenarios/).
SCENARIOS: tuple[str, ...] = (
    "card_testing",
    "account_takeover",
    "compromised_terminal",
    "impossible_travel",
    "proxy_ip",
    "app_scam",
    "bin_attack",
    "new_account_fraud",
)

#: Share of fraudulent *transactions* per scenario (not of episodes: a card-testing
#: burst is ~20 transactions, an APP scam one or two).
#: The last two hit cards nobody has used yet (cold start for the feature store).
DEFAULT_MIX: dict[str, float] = {
    "card_testing": 0.19,
    "account_takeover": 0.12,
    "compromised_terminal": 0.17,
    "impossible_travel": 0.12,
    "proxy_ip": 0.12,
    "app_scam": 0.08,
    "bin_attack": 0.11,
    "new_account_fraud": 0.09,
}
#: Without a fixed end (Kafka mode), customers join over this many simulated days.
ENDLESS_JOIN_SPAN_DAYS = 30

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything that shapes a run. Times are epoch milliseconds, UTC."""

    seed: int = 42
    customers: int = 5_000
    #: First instant of the simulated timeline.
    start_ms: int = 1_736_121_600_000  # 2025-01-06T00:00Z, a Monday
    #: Simulated days; None streams for ever (Kafka mode).
    days: int | None = 30
    #: Target share of transactions that are fraudulent.
    fraud_rate: float = 0.008
    #: Share of customers who open their account (and get their card) during the
    #: run, at moments spread evenly over it (over ``ENDLESS_JOIN_SPAN_DAYS`` when
    #: endless); they transact only from then on, so new cards keep appearing.
    new_customer_share: float = 0.25
    #: Chance per card per day that the bank replaces it (expiry, loss, a new
    #: virtual card); cards with reported fraud are replaced on top of this.
    card_replacement_rate: float = 0.003
    #: Block and reissue a card once the bank learns of fraud on it. With this off
    #: and the two above at 0, the cards of day 1 are all the run ever sees.
    reissue_after_fraud: bool = True
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    #: Share of legitimate transactions later confirmed legitimate (``source="import"``).
    confirmed_legit_share: float = 0.02
    #: Share of legitimate card transactions the customer disputes and loses.
    dispute_share: float = 0.002
    #: Share of fraud that is never labelled (nobody noticed).
    unlabelled_fraud_share: float = 0.05
    #: Benign customer messages per customer per day.
    benign_message_rate: float = 0.003
    #: With a fixed end: still emit labels that become known after it (at their
    #: ``known_at_ms``), so the label file holds every label the run's fraud will get.
    drain_labels: bool = True

    def __post_init__(self) -> None:
        if self.customers < 20:
            raise ConfigError(
                "customers must be at least 20 (scenarios need victims and bystanders)"
            )
        if self.days is not None and self.days < 1:
            raise ConfigError("days must be at least 1")
        if not 0.0 <= self.fraud_rate < 0.5:
            raise ConfigError(f"fraud_rate must be in [0, 0.5), got {self.fraud_rate}")
        if not 0.0 <= self.new_customer_share <= 0.9:
            # Above that, the first days have almost nobody to pay or to defraud.
            raise ConfigError(
                f"new_customer_share must be in [0, 0.9], got {self.new_customer_share}"
            )
        if not 0.0 <= self.card_replacement_rate <= 0.1:
            raise ConfigError(
                f"card_replacement_rate must be in [0, 0.1] per day, got "
                f"{self.card_replacement_rate}"
            )
        for name in ("confirmed_legit_share", "dispute_share", "unlabelled_fraud_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        if self.benign_message_rate < 0:
            raise ConfigError("benign_message_rate must not be negative")
        unknown = set(self.mix) - set(SCENARIOS)
        if unknown:
            raise ConfigError(f"unknown scenarios in mix: {sorted(unknown)}; known: {SCENARIOS}")
        if any(share < 0 for share in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ConfigError("mix shares must be non-negative with a positive sum")

    @property
    def end_ms(self) -> int | None:
        return None if self.days is None else self.start_ms + self.days * _DAY_MS

    @property
    def join_span_ms(self) -> int:
        """The stretch of time over which new customers open their accounts."""
        return (ENDLESS_JOIN_SPAN_DAYS if self.days is None else self.days) * _DAY_MS

    def normalised_mix(self) -> dict[str, float]:
        """The mix over every known scenario, summing to 1 (absent ones are 0)."""
        total = sum(self.mix.values())
        return {name: self.mix.get(name, 0.0) / total for name in SCENARIOS}

    def population_tag(self) -> str:
        """Short id prefix of the population: same seed, same customers, cards, merchants."""
        return stable_hash(f"population:{self.seed}")[:5]

    def run_tag(self) -> str:
        """Short id prefix of this run's events: a different start never reuses tx ids."""
        return stable_hash(f"run:{self.seed}:{self.start_ms}")[:6]


def stable_hash(text: str) -> str:
    """A hex digest that, unlike ``hash()``, is the same in every process."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def parse_mix(text: str) -> dict[str, float]:
    """``"card_testing=0.3,app_scam=0.1"`` -> shares; scenarios left out get none."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"mix entry {part!r} is not name=share")
        if name not in SCENARIOS:
            raise ConfigError(f"unknown scenario {name!r} in mix; known: {', '.join(SCENARIOS)}")
        try:
            mix[name] = float(value)
        except ValueError:
            raise ConfigError(f"mix share for {name!r} is not a number: {value!r}") from None
    if not mix:
        raise ConfigError("mix is empty")
    return mix


def parse_start(text: str) -> int:
    """An ISO date or date-time (UTC unless it says otherwise) as epoch ms."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"start {text!r} is not an ISO date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)

"""The pure, deterministic event generator: config in, ordered events out.

``simulate(config)`` yields ``SimulatedEvent`` (an event plus its ground truth)
in stream-time order: transactions and messages at their event time, labels at
their ``known_at_ms``. It does no I/O; the sinks decide where events go. Same
config (seed included) -> byte-identical events.

Each simulated day (a 24-hour window from ``start_ms``):

1. cards due for replacement get their new numbers (growth.py), trips start,
   the day's legitimate payments of the customers who have joined by then are
   planned (vectorised) and benign messages are scheduled;
2. the fraud budget for the day is ``legit x rate / (1 - rate)`` transactions,
   split by the mix; each scenario keeps a running balance of fraud it is owed
   and starts episodes by randomised rounding, so the achieved rate tracks the
   target without rounding every day's tiny budget to zero;
3. the planned payments are assembled lazily in time order, interleaved with
   the scheduled events (fraud, messages, labels) from the heap.

With a fixed end, nothing happens after it except (by default) the labels of
what happened before it, drained at their ``known_at_ms``.
"""

from __future__ import annotations

from collections.abc import Iterator

from contracts.events import Label, Transaction, UserMessage
from services.simulator.config import SCENARIOS, SimulatorConfig
from services.simulator.legit import LegitPlanner
from services.simulator.rhythm import DAY_MS
from services.simulator.scenarios import EXPECTED_FRAUD_PER_EPISODE, SCENARIO_FUNCTIONS
from services.simulator.world import SimulatedEvent, World

__all__ = ["FraudPlanner", "events", "simulate"]

#: Guard against a pathological mix spawning without bound on one day.
_MAX_EPISODES_PER_DAY = 500


class FraudPlanner:
    """Turns each day's fraud budget into episodes, scenario by scenario."""

    def __init__(self, world: World) -> None:
        self.world = world
        config = world.config
        self.mix = config.normalised_mix()
        self.odds = config.fraud_rate / (1.0 - config.fraud_rate)
        self.owed = dict.fromkeys(SCENARIOS, 0.0)

    def plan_day(self, window_start: int, legit_count: int) -> None:
        budget = legit_count * self.odds
        rng = self.world.fraud_rng
        for scenario in SCENARIOS:
            if self.mix[scenario] <= 0.0:
                continue
            self.owed[scenario] += budget * self.mix[scenario]
            expected = EXPECTED_FRAUD_PER_EPISODE[scenario]
            spawn = SCENARIO_FUNCTIONS[scenario]
            for _ in range(_MAX_EPISODES_PER_DAY):
                # Randomised rounding: start an episode with probability owed/expected
                # (certainly once a whole episode is owed). Unbiased even when a
                # day's budget is a fraction of an episode, and the running balance
                # (which goes negative after a big episode) keeps long runs on target.
                owed = self.owed[scenario]
                if owed <= 0.0 or rng.random() >= owed / expected:
                    break
                made = spawn(self.world, window_start)
                # An episode whose fraud mostly falls after the end still pays off
                # half an episode, so the last days are not flooded with new ones.
                self.owed[scenario] -= max(made, expected / 2)


def simulate(config: SimulatorConfig) -> Iterator[SimulatedEvent]:
    """Every event of the run with its ground truth, in stream-time order."""
    world = World(config)
    legit = LegitPlanner(world)
    fraud = FraudPlanner(world)
    window = config.start_ms
    end = config.end_ms
    while end is None or window < end:
        world.growth.start_day(window)
        legit.plan_trips(window)
        day = legit.plan_day(window)
        legit.plan_messages(window)
        fraud.plan_day(window, len(day))
        for t, item in day.events():
            while (scheduled := world.pop_until(t)) is not None:
                yield scheduled
            if item is not None:
                yield item
        window += DAY_MS
        while (scheduled := world.pop_until(window - 1)) is not None:
            yield scheduled
    # Only labels are left: nothing else is ever scheduled after the end.
    while (scheduled := world.pop_until(2**62)) is not None:
        yield scheduled


def events(config: SimulatorConfig) -> Iterator[Transaction | UserMessage | Label]:
    """The events alone, as they would go on the wire."""
    for item in simulate(config):
        yield item.event

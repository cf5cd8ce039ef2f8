"""A seeded, realistic stream of payments, customer messages and late labels.

Layout::

    config.py      SimulatorConfig, scenario names, --mix / --start parsing
    geo.py         cities, currencies, IP ranges, distances
    population.py  customers, cards, devices, payees, merchants, terminals
    growth.py      customers who join during the run, replaced cards, never-used cards
    rhythm.py      daily and weekly rhythm
    texts.py       customer messages (templates x fillers) and their categories
    world.py       mutable run state; builds, stamps and schedules every event
    legit.py       legitimate traffic (habits, trips, new devices, new payees)
    scenarios/     the named fraud scenarios, one episode per call
    labels.py      when the truth becomes known (chargebacks, customer reports)
    generator.py   simulate(config): the pure, ordered, deterministic stream
    summary.py     counts and shares reported at the end
    sinks/         files (Parquet/CSV) and Kafka (paced)
"""

from __future__ import annotations

from services.simulator.config import DEFAULT_MIX, SCENARIOS, SimulatorConfig, parse_mix
from services.simulator.generator import events, simulate
from services.simulator.summary import SimulationSummary
from services.simulator.texts import MESSAGE_CATEGORIES, compose_message
from services.simulator.world import SimulatedEvent, stream_time

__all__ = [
    "DEFAULT_MIX",
    "MESSAGE_CATEGORIES",
    "SCENARIOS",
    "SimulatedEvent",
    "SimulationSummary",
    "SimulatorConfig",
    "compose_message",
    "events",
    "parse_mix",
    "simulate",
    "stream_time",
]

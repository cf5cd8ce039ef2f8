"""The named fraud scenarios, each one function ``(world, window_start) -> fraud count``.

Every scenario function schedules one *episode* (one attack) starting inside
the day window it is given, and returns how many fraudulent transactions it
scheduled inside the run. ``EXPECTED_FRAUD_PER_EPISODE`` lets the planner turn
a fraud-transaction budget into a number of episodes.
"""

from __future__ import annotations

from collections.abc import Callable

from services.simulator.scenarios.accounts import account_takeover, app_scam
from services.simulator.scenarios.cards import card_testing, proxy_ip
from services.simulator.scenarios.fresh import bin_attack, new_account_fraud
from services.simulator.scenarios.stolen import compromised_terminal, impossible_travel
from services.simulator.world import World

__all__ = ["EXPECTED_FRAUD_PER_EPISODE", "SCENARIO_FUNCTIONS", "ScenarioFunction"]

ScenarioFunction = Callable[[World, int], int]

SCENARIO_FUNCTIONS: dict[str, ScenarioFunction] = {
    "card_testing": card_testing,
    "account_takeover": account_takeover,
    "compromised_terminal": compromised_terminal,
    "impossible_travel": impossible_travel,
    "proxy_ip": proxy_ip,
    "app_scam": app_scam,
    "bin_attack": bin_attack,
    "new_account_fraud": new_account_fraud,
}

#: Mean fraudulent transactions per episode (from the scenario's own parameters).
EXPECTED_FRAUD_PER_EPISODE: dict[str, float] = {
    "card_testing": 20.0,  # 5-15 cards x 1-3 tries
    "account_takeover": 2.0,  # one transfer + 0-2 more
    "compromised_terminal": 24.0,  # 10-30 skimmed cards x 75% cashed out x 1-3 uses
    "impossible_travel": 2.0,  # 1-3 payments far away
    "proxy_ip": 25.0,  # 8-25 cards x 1-2 purchases
    "app_scam": 1.3,  # one transfer, sometimes a second
    "bin_attack": 10.2,  # 5-12 cards x 1.2 tries
    "new_account_fraud": 4.6,  # 1-3 accounts x (30% a warm-up purchase + 1-3 cash-outs)
}

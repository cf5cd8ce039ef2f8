"""When and how the truth about a transaction becomes known.

* Card fraud the customer does not report is charged back days later: delay
  lognormal around 12 days, clipped to [2, 45] days (issuers see chargebacks
  after the statement, the dispute form and the scheme's processing).
* Some victims notice within hours and report it (``source="customer"``),
  together with a message; all of that victim's fraud in the episode is then
  labelled at once. Push payments (transfers) are never charged back: their
  only labels are customer reports, so unreported APP scams stay unlabelled,
  as they do in real banks.
* Fraud on an account a fraudster opened (``new_account_fraud``) has no
  victim to report it and no cardholder to charge it back: the bank's own
  review finds it (identity checks, the account going negative) 1-20 days
  after the bust-out and labels the whole account at once (``source="import"``).
* A configurable share of fraud is never labelled at all.
* Once the bank knows of fraud on a card (report or chargeback), the card is
  blocked and reissued a few days later (growth.py): a new card number whose
  first payments are cold starts again.
* Legitimate transactions get ``is_fraud=False`` labels too: a share is
  confirmed legitimate by the back office (``source="import"``, 1-10 days), and
  a small share is disputed by the customer and resolved in the merchant's
  favour (a dispute message, then ``source="chargeback"``, 15-45 days).
"""

from __future__ import annotations

import math
import random

from contracts.events import Transaction
from services.simulator.world import World

__all__ = [
    "BACK_OFFICE_DELAY_DAYS",
    "CHARGEBACK_DELAY_DAYS",
    "CUSTOMER_DELAY_HOURS",
    "CUSTOMER_REPORT_PROBABILITY",
    "label_fraud",
    "label_legit",
]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: (min, median, max) of the chargeback delay after the transaction.
CHARGEBACK_DELAY_DAYS = (2.0, 12.0, 45.0)
#: (min, median, max) of a customer's report after their last fraudulent transaction.
CUSTOMER_DELAY_HOURS = (0.5, 5.0, 48.0)
#: How likely a victim notices and reports within hours, by scenario: large
#: transfers out of an account get noticed, a 1-euro card test rarely does.
CUSTOMER_REPORT_PROBABILITY: dict[str, float] = {
    "card_testing": 0.03,
    "account_takeover": 0.65,
    "compromised_terminal": 0.25,
    "impossible_travel": 0.35,
    "proxy_ip": 0.15,
    "app_scam": 0.85,
    # A 50-cent charge on a card the customer has not even started to use.
    "bin_attack": 0.05,
    # A synthetic identity does not complain; the bank finds it itself.
    "new_account_fraud": 0.0,
}
#: (min, median, max) days from the last transaction of a fraudulent account to its discovery.
BACK_OFFICE_DELAY_DAYS = (1.0, 5.0, 20.0)
_BACK_OFFICE_SCENARIOS = frozenset({"new_account_fraud"})
_CARD_CHANNELS = frozenset({"pos", "atm", "ecom"})
_REPORT_INTENT = {"account_takeover": "ato_report", "app_scam": "app_scam_after"}


def label_fraud(world: World, scenario: str, episode: str, txs: list[Transaction]) -> None:
    """Schedule the labels (and report messages) for one episode's fraud transactions."""
    rng = world.label_rng
    if scenario in _BACK_OFFICE_SCENARIOS:
        _back_office_finding(world, scenario, txs)
        return
    by_customer: dict[str, list[Transaction]] = {}
    for tx in txs:
        by_customer.setdefault(tx.customer_id, []).append(tx)
    for group in by_customer.values():
        if rng.random() < CUSTOMER_REPORT_PROBABILITY[scenario]:
            _customer_report(world, scenario, episode, group)
            continue
        for tx in group:
            if tx.channel == "transfer" or rng.random() < world.config.unlabelled_fraud_share:
                continue
            known = tx.event_time_ms + _clipped_lognormal_ms(rng, CHARGEBACK_DELAY_DAYS, DAY_MS)
            world.add_label(
                world.label(tx, is_fraud=True, source="chargeback", known_at_ms=known,
                            scenario=scenario)
            )  # fmt: skip
            world.growth.schedule_replacement(tx.card_id, known)


def _back_office_finding(world: World, scenario: str, txs: list[Transaction]) -> None:
    rng = world.label_rng
    if not txs or rng.random() < world.config.unlabelled_fraud_share:
        return
    last = max(tx.event_time_ms for tx in txs)
    known = last + _clipped_lognormal_ms(rng, BACK_OFFICE_DELAY_DAYS, DAY_MS)
    for tx in txs:
        world.add_label(
            world.label(tx, is_fraud=True, source="import", known_at_ms=known,
                        scenario=scenario, note="account closed after the bank's review")
        )  # fmt: skip


def _customer_report(world: World, scenario: str, episode: str, group: list[Transaction]) -> None:
    rng = world.label_rng
    last = max(tx.event_time_ms for tx in group)
    known = last + _clipped_lognormal_ms(rng, CUSTOMER_DELAY_HOURS, HOUR_MS)
    first = group[0]
    customer = world.customer_of(first.card_id)
    merchant = world.merchant(first.merchant_id)
    intent = _REPORT_INTENT.get(scenario, "card_fraud_report")
    # The customer writes first; the bank records the label a few minutes later.
    written = max(last + 1, known - int(rng.uniform(1, 25) * 60_000))
    message = world.message(
        customer,
        written,
        intent,
        tx_id=first.tx_id,
        merchant=merchant.name,
        amount=f"{first.amount:,.2f} {first.currency}",
    )
    world.add_message(message, intent, scenario=scenario, episode=episode)
    for tx in group:
        world.add_label(
            world.label(tx, is_fraud=True, source="customer", known_at_ms=known,
                        scenario=scenario, note="reported by the customer")
        )  # fmt: skip
        if tx.channel in _CARD_CHANNELS:
            world.growth.schedule_replacement(tx.card_id, known)


def label_legit(world: World, tx: Transaction, roll: float) -> None:
    """Maybe label a legitimate transaction; ``roll`` is a uniform draw made at planning."""
    config = world.config
    rng = world.label_rng
    if roll < config.confirmed_legit_share:
        known = tx.event_time_ms + int(rng.uniform(1.0, 10.0) * DAY_MS)
        world.add_label(
            world.label(tx, is_fraud=False, source="import", known_at_ms=known,
                        note="confirmed legitimate")
        )  # fmt: skip
        return
    if roll >= config.confirmed_legit_share + config.dispute_share or tx.channel == "transfer":
        return
    customer = world.customer_of(tx.card_id)
    written = tx.event_time_ms + _clipped_lognormal_ms(rng, (1.0, 24.0, 240.0), HOUR_MS)
    message = world.message(
        customer,
        written,
        "dispute",
        tx_id=tx.tx_id,
        merchant=world.merchant(tx.merchant_id).name,
        amount=f"{tx.amount:,.2f} {tx.currency}",
    )
    world.add_message(message, "dispute")
    known = tx.event_time_ms + int(rng.uniform(15.0, 45.0) * DAY_MS)
    world.add_label(
        world.label(tx, is_fraud=False, source="chargeback", known_at_ms=known,
                    note="dispute resolved in favour of the merchant")
    )  # fmt: skip


def _clipped_lognormal_ms(rng: random.Random, bounds: tuple[float, float, float], unit: int) -> int:
    """A lognormal delay around ``median`` clipped to [low, high], in ms."""
    low, median, high = bounds
    value = median * math.exp(rng.gauss(0.0, 0.6))
    return int(min(high, max(low, value)) * unit)

"""Microbenchmark: microseconds per evaluation of a rule set (not a test; no assertions).

``python -m rules.bench`` times the packaged default rule set over a few
crafted contexts (quiet ones that hit nothing, and some that hit several
rules), single and batched. Timings on a shared machine are noisy; read them
as an order of magnitude.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from rules.expression.types import Context
from rules.loader import default_rules_text, parse_rule_set
from rules.ruleset import RuleSet
from rules.schema import MODEL_NAMES, TRANSACTION_NAMES, rule_vocabulary

__all__ = ["bench_rule_set", "default_bench_contexts", "main"]


def default_bench_contexts(feature_names: Iterable[str]) -> list[dict[str, Any]]:
    """Four representative contexts: two quiet, two that hit several rules."""
    quiet: dict[str, Any] = {name: 0.0 for name in feature_names}
    quiet.update(
        tx_id="T-1", card_id="C-1", customer_id="U-1", merchant_id="M-1", amount=42.5,
        currency="EUR", mcc="5411", country="DE", channel="pos", card_bin="411111",
        device_id=None, ip=None, payee_id=None, score=0.02, cold_start=False,
        card_speed_kmh=math.nan, account_age_days=800.0, card_history_count=120.0,
    )  # fmt: skip
    online = dict(quiet, channel="ecom", device_id="D-1", ip="10.0.0.1", amount=18.0)
    testing = dict(online, amount=1.0, device_cards_1h=6.0, card_count_10m=6.0, card_sum_10m=6.0)
    scam = dict(
        quiet, channel="transfer", amount=4200.0, customer_new_payee=1.0, account_age_days=30.0,
        card_new_device=1.0, payee_id="P-9", mcc="4829", cold_start=True, score=0.7,
    )  # fmt: skip
    return [quiet, online, testing, scam]


def bench_rule_set(
    rule_set: RuleSet, contexts: Sequence[Context], *, seconds: float = 1.0
) -> dict[str, float]:
    """Mean microseconds per evaluation, single calls and ``evaluate_batch``."""
    lists = rule_set.effective_lists(None)

    def single() -> object:
        return [rule_set.evaluate(context, lists) for context in contexts]

    def batch() -> object:
        return rule_set.evaluate_batch(contexts, lists)

    results: dict[str, float] = {}
    for label, run in (("single", single), ("batch", batch)):
        # The best of several short rounds: on a shared machine the mean mostly
        # measures the neighbours.
        best = math.inf
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            for _ in range(200):
                run()
            best = min(best, (time.perf_counter() - started) / (200 * len(contexts)))
        results[label] = best * 1e6
    return results


def main() -> None:
    # The default rules only use these names; numeric features beyond them are
    # added so the contexts look like the scorer's (dozens of keys).
    features = [
        name
        for name in _DEFAULT_FEATURES
        if name not in TRANSACTION_NAMES and name not in MODEL_NAMES
    ]
    rule_set = parse_rule_set(default_rules_text(), rule_vocabulary(features), source="default")
    contexts = default_bench_contexts(features)
    timings = bench_rule_set(rule_set, contexts)
    print(
        f"default rule set {rule_set.version}: {len(rule_set.rules)} rules; "
        f"{timings['single']:.2f} µs per evaluation, {timings['batch']:.2f} µs batched "
        "(best round)"
    )


# The features the default rule set reads, plus filler so contexts have a realistic size.
_DEFAULT_FEATURES = (
    "card_count_10m", "card_sum_10m", "card_speed_kmh", "card_km_from_prev", "card_new_device",
    "ip_cards_1h", "device_cards_1h", "customer_new_payee", "account_age_days",
    "card_history_count", "card_hour_share", "device_fraud_rate", "device_labels_30d",
    *(f"filler_{i}" for i in range(40)),
)  # fmt: skip

if __name__ == "__main__":
    main()

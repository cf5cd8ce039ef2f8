"""Online (Redis, batched) and offline (memory, point-in-time frame) give the same vectors."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from contracts.codec import to_builtins
from contracts.events import Label, Transaction
from feature_store import FEATURE_NAMES
from feature_store.engine import FeatureEngine
from feature_store.offline import build_feature_frame, replay_order
from services.simulator.config import SimulatorConfig
from services.simulator.generator import events
from tests.feature_store.conftest import make_tx, redis_store


def _simulated(days: int = 6, customers: int = 300) -> tuple[list[Transaction], list[Label]]:
    config = SimulatorConfig(seed=11, customers=customers, days=days, fraud_rate=0.05)
    txs, labels = [], []
    for event in events(config):
        if isinstance(event, Transaction):
            txs.append(event)
        elif isinstance(event, Label):
            labels.append(event)
    return txs, labels


def test_redis_online_equals_offline_frame(settings) -> None:
    txs, labels = _simulated()
    assert len(txs) > 1000 and any(label.is_fraud for label in labels)
    offline = build_feature_frame(
        pd.DataFrame([to_builtins(t) for t in txs]),
        pd.DataFrame([to_builtins(lb) for lb in labels]),
        progress=False,
    )
    store = redis_store(settings)
    engine = FeatureEngine(store)
    ordered = sorted(txs, key=lambda t: t.event_time_ms)
    by_tx = {t.tx_id: t for t in ordered}
    online: dict[str, list[float]] = {}
    for kind, run in replay_order(ordered, labels):
        if kind == "label":
            engine.apply_labels([_with_entities(lb, by_tx) for lb in run])  # type: ignore[union-attr]
            continue
        for start in range(0, len(run), 256):
            for row in engine.process(run[start : start + 256]):  # type: ignore[arg-type]
                online[row.tx_id] = row.values
    store.close()
    online_matrix = np.array([online[tx_id] for tx_id in offline["tx_id"]])
    offline_matrix = offline[list(FEATURE_NAMES)].to_numpy()
    np.testing.assert_allclose(online_matrix, offline_matrix, rtol=1e-12, atol=0, equal_nan=True)
    # The label-based features really moved: the comparison is not all priors.
    assert (offline["merchant_labels_30d"] > 0).sum() > 10


def _with_entities(label: Label, by_tx: dict[str, Transaction]) -> Label:
    import msgspec

    tx = by_tx.get(label.tx_id)
    if tx is None or label.device_id or label.ip or label.merchant_id:
        return label
    return msgspec.structs.replace(
        label, device_id=tx.device_id, ip=tx.ip, merchant_id=tx.merchant_id
    )


def test_two_consumers_racing_on_one_card_count_each_transaction_once(settings) -> None:
    txs = [make_tx(i, event_time_ms=1_700_000_000_000 + i * 1000) for i in range(400)]
    replies: dict[int, dict[str, list[float]]] = {0: {}, 1: {}}
    errors: list[BaseException] = []

    def consume(worker: int) -> None:
        store = redis_store(settings)
        engine = FeatureEngine(store)
        try:
            # Each worker gets every transaction (a rebalance redelivered them all),
            # in batches that overlap the other worker's.
            step = 32 if worker == 0 else 48
            for start in range(0, len(txs), step):
                for row in engine.process(txs[start : start + step]):
                    replies[worker][row.tx_id] = row.values
        except BaseException as exc:  # noqa: BLE001 - surfaced to the test below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=consume, args=(w,)) for w in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    # Whoever got a transaction first decided its vector; the other read the same one.
    for tx in txs:
        np.testing.assert_array_equal(replies[0][tx.tx_id], replies[1][tx.tx_id])
    store = redis_store(settings)
    (probe,) = FeatureEngine(store).process([make_tx(10_000, event_time_ms=1_700_000_400_000)])
    store.close()
    assert probe.values[FEATURE_NAMES.index("card_count_24h")] == len(txs) + 1


@pytest.mark.parametrize(
    "bad", [{"amount": -5.0}, {"amount": float("nan")}, {"lat": 91.0, "lon": 0.0}]
)
def test_bad_values_are_rejected_before_they_reach_a_window(bad: dict[str, float]) -> None:
    import msgspec

    from contracts.codec import decode_as
    from contracts.errors import ContractError

    good = to_builtins(make_tx(1))
    good.update(bad)
    with pytest.raises(ContractError):
        decode_as(msgspec.json.encode(good), Transaction)


def test_out_of_order_events_give_the_same_vectors_on_both_backends(settings) -> None:
    """Late and early arrivals, gaps from seconds to weeks, a shared merchant and
    device: the windows' head moves, late buckets are inserted among the
    occupied ones, old buckets (and the 30-day max) leave. Redis must agree with
    the memory twin value for value."""
    import random

    from feature_store.online.memory import MemoryOnlineStore

    rng = random.Random(23)
    minute, day = 60_000, 86_400_000
    t = 1_700_000_000_000
    txs = []
    for i in range(1500):
        t += rng.choice([1_000, 20_000, 3 * minute, 40 * minute, 5 * 3_600_000, 2 * day, 9 * day])
        late = rng.random() < 0.2  # arrives up to two days behind the stream
        when = t - rng.randint(0, 2 * day) if late else t
        txs.append(
            make_tx(
                i,
                event_time_ms=when,
                card_id=f"card-{rng.randint(1, 4)}",
                customer_id=f"cust-{rng.randint(1, 3)}",
                merchant_id=f"m-{rng.randint(1, 2)}",
                device_id=rng.choice(["dev-1", "dev-2", None]),
                amount=round(rng.uniform(1, 900), 2),
            )
        )
    memory = FeatureEngine(MemoryOnlineStore())
    store = redis_store(settings)
    online = FeatureEngine(store)
    for start in range(0, len(txs), 97):
        batch = txs[start : start + 97]
        expected = memory.process(batch)
        got = online.process(batch)
        for e, g in zip(expected, got, strict=True):
            np.testing.assert_allclose(g.values, e.values, rtol=1e-12, atol=0, equal_nan=True)
    store.close()

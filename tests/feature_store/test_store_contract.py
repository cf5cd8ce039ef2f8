"""Contract tests: every backend must give these answers (memory and Redis alike)."""

from __future__ import annotations

import math
import random

import msgspec
import pytest

from feature_store import FEATURE_NAMES
from feature_store.engine import FeatureEngine
from tests.feature_store.conftest import T0, make_tx

IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def feat(row_values: list[float], name: str) -> float:
    return row_values[IDX[name]]


def test_velocity_windows_match_a_brute_force_reference(engine: FeatureEngine) -> None:
    rng = random.Random(7)
    t = T0
    txs = []
    for i in range(400):
        t += rng.choice([5_000, 40_000, 5 * MIN, 2 * HOUR, 3 * DAY])
        txs.append(make_tx(i, event_time_ms=t, amount=round(rng.uniform(1, 300), 2)))
    rows = []
    for start in range(0, len(txs), 64):
        rows += engine.process(txs[start : start + 64])
    for k, (tx, row) in enumerate(zip(txs, rows, strict=True)):
        seen = txs[: k + 1]

        def window(bucket_ms: int, n: int, tx=tx, seen=seen) -> list[float]:
            head = tx.event_time_ms // bucket_ms
            return [s.amount for s in seen if s.event_time_ms // bucket_ms > head - n]

        assert feat(row.values, "card_count_1h") == len(window(MIN, 60))
        assert feat(row.values, "card_sum_1h") == pytest.approx(sum(window(MIN, 60)))
        assert feat(row.values, "card_count_10m") == len(window(MIN, 10))
        assert feat(row.values, "card_count_24h") == len(window(HOUR, 24))
        assert feat(row.values, "card_count_7d") == len(window(DAY, 7))
        assert feat(row.values, "card_count_30d") == len(window(DAY, 30))
        assert feat(row.values, "card_max_30d") == pytest.approx(max(window(DAY, 30)))
        assert feat(row.values, "card_history_count") == k


def test_windows_expire_by_event_time(engine: FeatureEngine) -> None:
    first = make_tx(1, amount=500.0)
    engine.process([first])
    later = make_tx(2, event_time_ms=T0 + 2 * HOUR, amount=20.0)
    (row,) = engine.process([later])
    assert feat(row.values, "card_count_1h") == 1
    assert feat(row.values, "card_count_24h") == 2
    much_later = make_tx(3, event_time_ms=T0 + 40 * DAY, amount=30.0)
    (row,) = engine.process([much_later])
    assert feat(row.values, "card_count_30d") == 1
    assert feat(row.values, "card_max_30d") == 30.0  # the 500 left the window
    assert feat(row.values, "card_history_count") == 2  # history remembers beyond windows


def test_late_events_count_in_windows_that_still_cover_them(engine: FeatureEngine) -> None:
    now = T0 + 10 * HOUR
    engine.process([make_tx(1, event_time_ms=now)])
    # 30 minutes late: inside the 1 h window that ends at the newest event.
    (late,) = engine.process([make_tx(2, event_time_ms=now - 30 * MIN)])
    assert feat(late.values, "card_count_1h") == 2
    # 3 hours late: outside 1 h, inside 24 h; the window end does not move back.
    (later,) = engine.process([make_tx(3, event_time_ms=now - 3 * HOUR)])
    assert feat(later.values, "card_count_1h") == 2
    assert feat(later.values, "card_count_24h") == 3
    # The time since the previous transaction never goes negative in the profile.
    (nxt,) = engine.process([make_tx(4, event_time_ms=now + MIN)])
    assert feat(nxt.values, "card_seconds_since_prev") == 60.0


def test_redelivery_reads_the_first_vector_and_counts_once(engine: FeatureEngine) -> None:
    txs = [make_tx(i, event_time_ms=T0 + i * MIN) for i in range(5)]
    first = engine.process(txs)
    again = engine.process(txs[2:4])
    assert [r.duplicate for r in again] == [True, True]
    for a, b in zip(first[2:4], again, strict=True):
        assert a.values == b.values or all(
            x == y or (math.isnan(x) and math.isnan(y))
            for x, y in zip(a.values, b.values, strict=True)
        )
    (nxt,) = engine.process([make_tx(9, event_time_ms=T0 + 5 * MIN)])
    assert feat(nxt.values, "card_count_1h") == 6  # five originals + this one, no double count


def test_distinct_counts_are_exact_below_the_cap_and_saturate_at_it(engine: FeatureEngine) -> None:
    txs = [
        make_tx(i, card_id=f"card-{i}", event_time_ms=T0 + i * 1000, ip="203.0.113.9")
        for i in range(520)
    ]
    rows = []
    for start in range(0, len(txs), 128):
        rows += engine.process(txs[start : start + 128])
    assert feat(rows[99].values, "ip_cards_24h") == 100
    assert feat(rows[-1].values, "ip_cards_24h") == 500  # cap of ip_cards
    assert feat(rows[-1].values, "ip_count_1h") == 520


def test_small_sets_evict_the_oldest_member_above_the_cap(engine: FeatureEngine) -> None:
    # A card's devices (cap 64) live in the entity record: the same semantics as
    # a sorted set, including ties on time broken by the member's bytes ("Dev-b"
    # before "dev-a", whatever a locale's collation says).
    first = [make_tx(0, device_id="dev-a"), make_tx(1, device_id="Dev-b", event_time_ms=T0)]
    rest = [make_tx(i, device_id=f"dev-{i:02d}") for i in range(2, 65)]
    rows = engine.process(first) + engine.process(rest)
    assert feat(rows[-1].values, "card_devices_30d") == 64  # 65 seen, capped
    t = T0 + 100_000
    again = [make_tx(100 + i, device_id=d, event_time_ms=t + i) for i, d in
             enumerate(["dev-a", "Dev-b", "dev-02", "dev-03"])]  # fmt: skip
    new_flags = [feat(r.values, "card_new_device") for r in engine.process(again)]
    # The 65th device evicted "Dev-b" (tied with "dev-a" on time, lower in bytes);
    # coming back it evicts the oldest, "dev-02", which coming back evicts "dev-03".
    assert new_flags == [0.0, 1.0, 1.0, 1.0]
    assert feat(rows[-1].values, "card_new_device") == 1.0


def test_first_time_flags(engine: FeatureEngine) -> None:
    a = make_tx(1)
    b = make_tx(2, device_id="dev-2", ip="10.0.0.2", country="FR", merchant_id="m-2")
    c = make_tx(3, device_id="dev-2")
    ra, rb, rc = engine.process([a, b, c])
    assert ra.cold_start and not rb.cold_start
    assert [feat(rb.values, f) for f in ("card_new_device", "card_new_ip", "card_new_country")] == [
        1.0,
        1.0,
        1.0,
    ]
    assert feat(rc.values, "card_new_device") == 0.0
    assert feat(rc.values, "card_devices_30d") == 2


def test_missing_entities_give_nan_not_zero(engine: FeatureEngine) -> None:
    (row,) = engine.process([make_tx(1, device_id=None, ip=None, lat=None, lon=None)])
    for name in ("device_count_1h", "device_cards_24h", "ip_count_24h", "ip_fraud_rate",
                 "card_new_device", "card_km_from_prev"):  # fmt: skip
        assert math.isnan(feat(row.values, name)), name
    assert feat(row.values, "merchant_count_1h") == 1


def test_impossible_travel_speed(engine: FeatureEngine) -> None:
    berlin = make_tx(1, lat=52.52, lon=13.405)
    sydney = make_tx(2, event_time_ms=T0 + 2 * HOUR, lat=-33.87, lon=151.21)
    _, row = engine.process([berlin, sydney])
    assert feat(row.values, "card_km_from_prev") == pytest.approx(16_000, rel=0.03)
    assert feat(row.values, "card_speed_kmh") == pytest.approx(8_000, rel=0.03)


def _device_label_features(engine: FeatureEngine, device: str, at_ms: int) -> list[float]:
    (row,) = engine.process([make_tx(9_000, tx_id=f"probe-{device}-{at_ms}", device_id=device,
                                     card_id=f"card-{device}", event_time_ms=at_ms)])  # fmt: skip
    return [feat(row.values, name) for name in ("device_labels_30d", "device_fraud_rate")]


def test_a_changed_verdict_replaces_the_label_counted(engine: FeatureEngine) -> None:
    from contracts.events import Label

    def label(tx_id: str, device: str, is_fraud: bool, day: int) -> Label:
        return Label(tx_id=tx_id, is_fraud=is_fraud, source="analyst",
                     known_at_ms=T0 + day * DAY, device_id=device)  # fmt: skip

    # "flip" is judged legitimate, then charged back as fraud; "once" is only fraud.
    assert engine.apply_labels([label("tx-a", "dev-flip", False, 1)]) == 1
    assert engine.apply_labels([label("tx-b", "dev-once", True, 1)]) == 1
    assert engine.apply_labels([label("tx-a", "dev-flip", True, 3)]) == 1
    assert engine.apply_labels([label("tx-a", "dev-flip", True, 3)]) == 0  # redelivered
    flipped = _device_label_features(engine, "dev-flip", T0 + 5 * DAY)
    assert flipped == _device_label_features(engine, "dev-once", T0 + 5 * DAY)
    assert flipped[0] == 1  # one label, not two
    # ... and back: as if only "legitimate" had been said.
    assert engine.apply_labels([label("tx-a", "dev-flip", False, 6)]) == 1
    assert engine.apply_labels([label("tx-c", "dev-legit", False, 1)]) == 1
    assert _device_label_features(engine, "dev-flip", T0 + 7 * DAY) == _device_label_features(
        engine, "dev-legit", T0 + 7 * DAY
    )
    # The corrected label leaves the window when the first one would have (day 1 + 30).
    assert _device_label_features(engine, "dev-flip", T0 + 32 * DAY)[0] == 0


def test_an_older_verdict_redelivered_after_its_replacement_changes_nothing(
    engine: FeatureEngine,
) -> None:
    from contracts.events import Label

    def label(is_fraud: bool, day: int, device: str = "dev-r") -> Label:
        return Label(tx_id=f"tx-{device}", is_fraud=is_fraud, source="analyst",
                     known_at_ms=T0 + day * DAY, device_id=device)  # fmt: skip

    assert engine.apply_labels([label(True, 1), label(False, 2)]) == 2  # fraud, then legit
    # The fraud label again, alone (a backfill, a replay out of order): it is the
    # older verdict and used to flip the transaction back to fraud.
    assert engine.apply_labels([label(True, 1)]) == 0
    assert engine.apply_labels([label(False, 1, "dev-l")]) == 1
    legit_only = _device_label_features(engine, "dev-l", T0 + 3 * DAY)
    assert _device_label_features(engine, "dev-r", T0 + 3 * DAY) == legit_only
    # A verdict known later than the one in force still replaces it.
    assert engine.apply_labels([label(True, 4)]) == 1
    assert engine.apply_labels([label(True, 1, "dev-f")]) == 1
    assert _device_label_features(engine, "dev-r", T0 + 5 * DAY) == _device_label_features(
        engine, "dev-f", T0 + 5 * DAY
    )


def test_a_verdict_changed_after_its_label_aged_out_moves_nothing(engine: FeatureEngine) -> None:
    from contracts.events import Label

    first = Label(tx_id="tx-a", is_fraud=True, source="analyst", known_at_ms=T0 + DAY,
                  device_id="dev-old")  # fmt: skip
    newer = Label(tx_id="tx-n", is_fraud=True, source="chargeback", known_at_ms=T0 + 40 * DAY,
                  device_id="dev-old")  # fmt: skip
    assert engine.apply_labels([first, newer]) == 2
    flip = Label(tx_id="tx-a", is_fraud=False, source="chargeback", known_at_ms=T0 + 41 * DAY,
                 device_id="dev-old")  # fmt: skip
    assert engine.apply_labels([flip]) == 1
    reference = msgspec.structs.replace(newer, tx_id="tx-r", device_id="dev-ref")
    assert engine.apply_labels([reference]) == 1
    # The newer label alone, as on a device that only ever had it: the first left
    # the window before its flip, which must not take a fraud away from the newer.
    found = _device_label_features(engine, "dev-old", T0 + 42 * DAY)
    assert found[0] == 1
    assert found == _device_label_features(engine, "dev-ref", T0 + 42 * DAY)


def test_labels_count_from_the_time_they_are_known(engine: FeatureEngine) -> None:
    from contracts.events import Label

    engine.process([make_tx(1)])
    label = Label(
        tx_id="tx-1", is_fraud=True, source="chargeback", known_at_ms=T0 + 5 * DAY,
        device_id="dev-1", ip="10.0.0.1", merchant_id="m-1",
    )  # fmt: skip
    assert engine.apply_labels([label]) == 1
    assert engine.apply_labels([label]) == 0  # redelivered: counted once
    (before,) = engine.process([make_tx(2, event_time_ms=T0 + 1 * DAY)])
    (after,) = engine.process([make_tx(3, event_time_ms=T0 + 6 * DAY)])
    assert feat(before.values, "device_labels_30d") == 0
    assert feat(after.values, "device_labels_30d") == 1
    assert feat(after.values, "device_fraud_rate") > feat(before.values, "device_fraud_rate")
    (gone,) = engine.process([make_tx(4, event_time_ms=T0 + 40 * DAY)])
    assert feat(gone.values, "device_labels_30d") == 0  # the label aged out of its window

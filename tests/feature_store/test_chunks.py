"""Chunked processing: calls sent ahead, replies read back in order, same vectors."""

from __future__ import annotations

import numpy as np
import pytest

from feature_store.engine import FeatureEngine, FeatureRow
from feature_store.exceptions import StoreProtocolError
from feature_store.online.base import OnlineStore
from feature_store.online.memory import MemoryOnlineStore
from feature_store.plan import plan_transaction
from tests.feature_store.conftest import make_tx, redis_store


def _stream(n: int) -> list:
    return [
        make_tx(i, card_id=f"card-{i % 7}", merchant_id=f"m-{i % 3}", amount=1.0 + i % 50)
        for i in range(n)
    ]


def _same(got: list[FeatureRow], expected: list[FeatureRow]) -> None:
    assert [r.tx_id for r in got] == [r.tx_id for r in expected]
    assert [(r.duplicate, r.cold_start) for r in got] == [
        (r.duplicate, r.cold_start) for r in expected
    ]
    np.testing.assert_array_equal(
        np.array([r.values for r in got]), np.array([r.values for r in expected])
    )


def test_chunks_give_what_one_batch_gives(store: OnlineStore) -> None:
    txs = _stream(100)
    expected = FeatureEngine(MemoryOnlineStore()).process(txs)
    chunks = list(FeatureEngine(store).process_chunks(txs, 16))
    assert [len(c) for c, _ in chunks] == [16] * 6 + [4]
    _same([row for _, rows in chunks for row in rows], expected)


def test_replies_are_matched_to_their_calls_whoever_asks_first(settings) -> None:
    store = redis_store(settings)
    engine = FeatureEngine(store)
    reference = FeatureEngine(MemoryOnlineStore())
    txs = _stream(60)
    plan = engine._tx_plan  # noqa: SLF001 - the engine's own plan, to submit by hand
    pending = [
        store.submit(plan, [plan_transaction(plan, store.key_prefix, tx) for tx in part])
        for part in (txs[:20], txs[20:40], txs[40:])
    ]
    expected = reference.process(txs)
    # The last answer first: the two before it are read (and kept) on the way.
    third, first, second = pending[2].result(), pending[0].result(), pending[1].result()
    got = engine._rows(txs[40:], third)  # noqa: SLF001
    got = engine._rows(txs[:20], first) + engine._rows(txs[20:40], second) + got  # noqa: SLF001
    _same(
        sorted(got, key=lambda r: int(r.tx_id.split("-")[1])),
        expected,
    )
    store.close()


def test_an_abandoned_chunk_iterator_leaves_later_calls_aligned(settings) -> None:
    store = redis_store(settings)
    engine = FeatureEngine(store)
    txs = _stream(50)
    expected = FeatureEngine(MemoryOnlineStore()).process(txs)
    chunks = engine.process_chunks(txs[:30], 10)
    first = next(chunks)[1]  # the other two chunks were sent (and applied) but never read
    del chunks
    later = [row for _, rows in engine.process_chunks(txs[30:], 10) for row in rows]
    blocking = engine.process(txs[:5])  # redelivered: the first vectors again
    _same(first + later, expected[:10] + expected[30:])
    _same(blocking, [FeatureRow(r.tx_id, r.values, True, r.cold_start) for r in expected[:5]])
    store.close()


def test_a_flushed_script_cache_is_reloaded_and_nothing_runs_twice(settings) -> None:
    # Redis lost its scripts (SCRIPT FLUSH, a failover): the call that got NOSCRIPT
    # did nothing, runs again and loads the script; no item is counted twice.
    txs = _stream(60)
    expected = FeatureEngine(MemoryOnlineStore()).process(txs)
    store = redis_store(settings)
    try:
        engine = FeatureEngine(store)
        first = engine.process(txs[:20])
        store.client.script_flush()
        second = engine.process(txs[20:40])
        store.client.script_flush()
        third = [row for _, rows in engine.process_chunks(txs[40:], 8) for row in rows]
    finally:
        store.close()
    _same(first + second + third, expected)


def test_a_call_of_another_caller_keeps_its_place_and_its_own_failure(settings) -> None:
    # submit_call: a foreign command on the feature calls' connection, answered
    # in send order; its unreadable reply fails it alone.
    store = redis_store(settings)
    engine = FeatureEngine(store)
    txs = _stream(40)
    plan = engine._tx_plan  # noqa: SLF001 - the engine's own plan, to submit by hand
    first = store.submit(plan, [plan_transaction(plan, store.key_prefix, tx) for tx in txs[:20]])
    echoed = store.submit_call(
        b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n", decode=bytes, redo=lambda: b"never"
    )

    def unreadable(raw: object) -> bytes:
        raise StoreProtocolError(f"not what was asked: {raw!r}")

    broken = store.submit_call(b"*1\r\n$4\r\nPING\r\n", decode=unreadable, redo=lambda: b"")
    last = store.submit(plan, [plan_transaction(plan, store.key_prefix, tx) for tx in txs[20:]])

    assert echoed.result() == b"hello"
    assert first.settled and not last.settled  # read on the way, in order; nothing later
    with pytest.raises(StoreProtocolError, match="not what was asked"):
        broken.result()
    expected = FeatureEngine(MemoryOnlineStore()).process(txs)
    assert [r[0] for r in first.result() + last.result()] == [0] * 40
    _same(engine._rows(txs, first.result() + last.result()), expected)  # noqa: SLF001
    store.close()

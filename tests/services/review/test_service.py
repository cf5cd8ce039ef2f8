"""``fraudstream run review`` end to end on the real broker: events in, a verdict out as a label.

The issue's "done when", as a test: the queue fills from the topics; an analyst
in headless Chromium opens the case, reads the (template) explanation and a
hostile customer message that must not run, marks it fraud; exactly one label
reaches the labels topic, and the label consumer turns it into risk features.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError as VendorKafkaError
from confluent_kafka import KafkaException
from sqlalchemy import update

from contracts.codec import encode
from contracts.events import Label
from contracts.settings import ReviewSettings, Settings
from feature_store import FEATURE_NAMES
from feature_store.engine import FeatureEngine
from services.kafka.clients import make_producer
from services.review.publisher import OutboxPublisher
from services.review.service import ReviewService, ReviewServiceConfig
from services.review.store import ReviewStore
from services.review.tables import label_outbox
from services.stream.shutdown import StopFlag
from services.stream.wiring import label_consumer, redis_store
from tests.conftest import consume_all
from tests.services.review.browser import browser_page, log_in
from tests.services.review.events import (
    DAY,
    analysis,
    decision,
    explanation,
    message,
    transaction,
)

PASSWORD = "correct horse battery"
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def _with_store(settings: Settings, tmp_path) -> Settings:
    review = ReviewSettings(database_url=f"sqlite:///{tmp_path / 'review.db'}", claim_ttl_s=600)
    return settings.model_copy(update={"review": review})


def _wait_for(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll until ``check()``; fail naming ``what`` (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {timeout_s:.0f} s")
        time.sleep(0.1)


def _produce(settings: Settings, producer, topic: str, *events) -> None:
    for event in events:
        key = getattr(event, "card_id", None) or event.customer_id
        producer.produce(topic, value=encode(event), key=key.encode())
    producer.flush(10)


def _features_after(settings: Settings, label: Label) -> dict[str, float]:
    """The features a later transaction on the same device reads."""
    store = redis_store(settings)
    try:
        probe = transaction(
            999,
            tx_id="probe",
            event_time_ms=label.known_at_ms + DAY,
            card_id="card-9",
            merchant_id="m-1",
        )
        (row,) = FeatureEngine(store).process([probe])
    finally:
        store.close()
    return dict(zip(FEATURE_NAMES, row.values, strict=True))


def test_an_analyst_marks_a_case_fraud_in_the_browser(settings, kafka_producer, tmp_path) -> None:
    settings = _with_store(settings, tmp_path)
    topics = settings.kafka.topics
    case = decision(1, score=0.93, tags=["high_risk_mcc"])
    _produce(settings, kafka_producer, topics.transactions, transaction(1), transaction(2))
    _produce(settings, kafka_producer, topics.decisions, case, decision(2, action="allow"))
    _produce(settings, kafka_producer, topics.cases, case, transaction(3))  # the 2nd: wrong kind
    _produce(
        settings,
        kafka_producer,
        topics.explanations,
        explanation(
            1, text="Spending far above usual.", source="template", fallback_reason="timeout"
        ),
    )
    _produce(settings, kafka_producer, topics.user_messages, message(1, text=HOSTILE, tx_id="tx-1"))
    _produce(settings, kafka_producer, topics.message_analyses, analysis(1))

    stop = StopFlag()
    service = ReviewService(settings, ReviewServiceConfig(port=0, max_wait_ms=20), stop=stop)
    service.store.add_user("ann", "analyst", PASSWORD, actor="test")
    results = []
    runner = threading.Thread(target=lambda: results.append(service.run()))
    runner.start()
    try:
        reader = ReviewStore.from_settings(settings)
        _wait_for(
            "the case with its transaction, explanation and message",
            lambda: _complete(reader, "tx-1"),
        )
        with browser_page(service.url) as (page, dialogs):
            log_in(page, "ann", PASSWORD)
            assert page.locator("#total").inner_text() == "1 cases"
            page.click("a[href='/cases/tx-1']")
            assert page.locator("#template-marker").is_visible()
            assert "Spending far above usual." in page.locator("#explanation-text").inner_text()
            # The hostile message is shown as text; nothing in it ran or became an element.
            assert page.locator(".message-text").inner_text() == HOSTILE
            assert page.evaluate("document.querySelectorAll('script, img').length") == 0
            assert page.evaluate("window.__pwned === undefined")
            page.fill("#note", "customer denies it; device seen in two fraud rings")
            page.click("#mark-fraud")
            assert page.locator("#notice").is_visible()
            assert "fraud" in page.locator("#verdict").inner_text()
            assert dialogs == []
        labels = consume_all(settings, topics.labels, count=1, timeout_s=20)
    finally:
        stop.set()
        runner.join(timeout=60)
    assert not runner.is_alive()
    (stats,) = results
    assert stats.labels_sent == 1
    assert stats.consumed.dead_letters == 1  # the transaction on the cases topic

    # Exactly one label, whatever the wait: the topic read again until idle.
    (label,) = consume_all(settings, topics.labels, idle_ms=1500)
    assert label == labels[0]
    assert isinstance(label, Label)
    assert (label.tx_id, label.is_fraud, label.source, label.analyst) == (
        "tx-1",
        True,
        "analyst",
        "ann",
    )
    assert (label.card_id, label.device_id, label.merchant_id) == ("card-1", "dev-1", "m-1")
    (letter,) = consume_all(settings, topics.dead_letter, raw=True)
    assert b"carries Decision events" in dict(letter.headers)["error.reason"]

    loop, updater = label_consumer(settings, group_id="review-labels-test")
    assert loop.run(max_messages=1, idle_exit_s=15).messages == 1
    assert updater.applied == 1
    features = _features_after(settings, label)
    assert features["device_labels_30d"] == 1
    assert features["merchant_labels_30d"] == 1
    reader.close()


def _complete(store: ReviewStore, tx_id: str) -> bool:
    from services.review.exceptions import CaseNotFoundError

    try:
        case = store.case(tx_id)
    except CaseNotFoundError:
        return False
    return bool(
        case.transaction and case.explanation and case.messages and case.messages[0].analysis
    )


def test_a_label_unacknowledged_for_several_rounds_is_produced_once(
    local_stack, settings, tmp_path
) -> None:
    """A stopped broker outlasts the round's flush: the label waits in the producer
    and is stamped when acknowledged; it used to be produced again every round."""
    settings = _with_store(settings, tmp_path)
    store = ReviewStore.from_settings(settings)
    from tests.services.review.events import ingest

    ingest(store, decision(1), transaction(1))
    label = store.decide("tx-1", "ann", is_fraud=True)
    producer = make_producer(settings.kafka)
    publisher = OutboxPublisher(store, producer, settings.kafka.topics.labels, flush_timeout_s=0.5)
    publisher.producer.list_topics(timeout=10)  # connected before the broker stops
    broker = int((local_stack.state_dir / "stack" / "kafka.pid").read_text().splitlines()[0])
    os.kill(broker, signal.SIGSTOP)
    try:
        rounds = [publisher.publish_pending() for _ in range(4)]  # each waits 0.5 s
    finally:
        os.kill(broker, signal.SIGCONT)
    assert rounds == [0, 0, 0, 0] and store.count_pending_labels() == 1
    time.sleep(3)  # the acknowledgement arrives between rounds (served by the next one's poll)
    deadline = time.monotonic() + 30
    while publisher.publish_pending() == 0:
        assert time.monotonic() < deadline, "the label was never acknowledged"
    assert store.count_pending_labels() == 0
    producer.close()
    store.close()
    # Everything on the topic (read until idle 1.5 s): one copy.
    assert consume_all(settings, settings.kafka.topics.labels, idle_ms=1500) == [label]


def test_a_label_sent_again_after_a_lost_stamp_counts_once(settings, tmp_path) -> None:
    """The crash window of the outbox: delivered, but the stamp never committed."""
    settings = _with_store(settings, tmp_path)
    store = ReviewStore.from_settings(settings)
    from tests.services.review.events import ingest

    ingest(store, decision(1), transaction(1))
    label = store.decide("tx-1", "ann", is_fraud=True)
    producer = make_producer(settings.kafka)
    publisher = OutboxPublisher(store, producer, settings.kafka.topics.labels)
    assert publisher.publish_pending() == 1
    assert publisher.publish_pending() == 0  # stamped: nothing goes twice
    with store.engine.begin() as connection:  # the crash: the stamp is lost
        connection.execute(update(label_outbox).values(sent_at_ms=None))
    assert publisher.publish_pending() == 1
    producer.close()
    store.close()

    assert consume_all(settings, settings.kafka.topics.labels, count=2) == [label, label]
    loop, updater = label_consumer(settings, group_id="review-resend-test")
    assert loop.run(max_messages=2, idle_exit_s=15).messages == 2
    assert updater.applied == 1  # the feature store's dedup on (tx_id, verdict)
    assert _features_after(settings, label)["device_labels_30d"] == 1


class _FailedForGood:
    """A producer librdkafka has declared fatally failed (a fenced idempotent
    producer), which a one-node broker cannot be made to do: ``produce`` raises the
    fatal error, or (``in_report``) accepts and reports it as each delivery's."""

    def __init__(self, real, *, in_report: bool) -> None:
        self._real = real
        self._in_report = in_report
        self._reports: list = []

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    def _fatal(self) -> VendorKafkaError:
        return VendorKafkaError(VendorKafkaError._FATAL, "producer fenced", fatal=True)

    def produce(self, *args, on_delivery, **kwargs) -> None:
        if not self._in_report:
            raise KafkaException(self._fatal())
        self._reports.append(on_delivery)

    def flush(self, timeout: float) -> int:
        reports, self._reports = self._reports, []
        for report in reports:
            report(self._fatal(), None)
        return 0


@pytest.mark.parametrize("in_report", [False, True], ids=["raised", "in-delivery-report"])
def test_a_fatally_failed_producer_is_replaced_and_the_label_still_goes(
    settings, tmp_path, in_report: bool
) -> None:
    # It used to fail every round the same way, forever: no label left the queue.
    settings = _with_store(settings, tmp_path)
    store = ReviewStore.from_settings(settings)
    from tests.services.review.events import ingest

    ingest(store, decision(1), transaction(1))
    label = store.decide("tx-1", "ann", is_fraud=True)
    broken = _FailedForGood(make_producer(settings.kafka), in_report=in_report)
    fresh = []

    def replacement():
        fresh.append(make_producer(settings.kafka))
        return fresh[-1]

    publisher = OutboxPublisher(
        store, broken, settings.kafka.topics.labels, make_producer=replacement
    )
    stop = StopFlag()
    worker = threading.Thread(target=publisher.run, args=(stop,), kwargs={"interval_s": 0.1})
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while store.count_pending_labels():
            assert time.monotonic() < deadline, "the label never left the outbox"
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert publisher.producers_replaced == 1 and publisher.producer is fresh[0]
    fresh[0].close()
    store.close()
    assert consume_all(settings, settings.kafka.topics.labels, idle_ms=1500) == [label]

"""A micro-batching Kafka consumer loop with at-least-once delivery and an explicit error policy.

Each turn: take up to ``max_batch`` messages (waiting at most ``max_wait_ms``),
decode them (a message that fails to decode goes to the dead-letter topic with
the reason), hand the good ones to the handler as one batch, make sure every
message the handler produced (and every dead letter) is delivered, and only
then commit the offsets. A crash anywhere before the commit redelivers the
batch; handlers are idempotent (the feature store dedups on transaction id),
so redelivery changes nothing.

When the handler raises ``Retriable`` (Redis unreachable, broker hiccup) the
same batch is retried with backoff until it succeeds or the process is asked
to stop; nothing is committed meanwhile, so nothing is lost either way. A
broker that stops acknowledging is waited for (logged every 30 s) until
librdkafka delivers or gives up on each message (``message.timeout.ms``), or
the process is asked to stop (seen within a second); before partitions are
handed over, for 30 s at most.

``in_flight > 1`` (the scorer) stops waiting for the broker between batches: a
batch's offsets are committed as soon as its own messages are acknowledged
(counted per batch by a ``TrackedProducer``), in order, while the next batches
are already being worked on; with ``in_flight`` batches unacknowledged the loop
waits for them. The rule is unchanged: no offset is committed before every
message of its batch and of all earlier batches was delivered. Before
partitions are revoked, and on close, everything delivered is committed.

With a ``prefetch`` hook (the scorer's: send the batch's feature calls, in
order), a full batch means a backlog: the loop then takes the next batch at
once (what the client already fetched, no waiting) and hands it to
``prefetch`` before handling the current one, so Redis computes the next
batch's features while this one is scored. Only when the current batch's own
calls went out first: the store applies batches in the order they are sent.
The next batch is handled right after; if the loop stops first it was
neither handled nor committed, and is redelivered. A handler that returns a
``finish`` (the scorer: read its decision records' answer and produce) has it
called after that next batch is handled, so the two overlap; outputs,
deliveries and commits stay in batch order. Offsets are
only committed for partitions the consumer still holds, so a batch taken just
before a revocation never moves the new owner's offset back.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from contracts.errors import ContractError
from services.exceptions import KafkaError
from services.kafka.errors import kafka_errors, membership_lost, translate_kafka_error
from services.stream.dead_letter import DeadLetter, DeadLetterSink
from services.stream.delivery import BatchDeliveries, TrackedProducer
from services.stream.shutdown import StopFlag

__all__ = ["BatchResult", "LoopStats", "MicroBatchConsumer", "Retriable"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How often a wait for the broker's acknowledgements is logged (the wait itself
#: ends only on delivery, failure or stop).
_FLUSH_ROUND_S = 30.0
#: The longest wait for acknowledgements before partitions are handed over (the
#: group waits for this member; what is not acknowledged by then is redelivered).
_REVOKE_WAIT_S = 30.0


class Retriable(Exception):  # noqa: N818 - it names the policy, not a failure kind
    """Raised by a handler when the whole batch should be tried again later."""


@dataclass
class BatchResult:
    """What a handler reports: records it refused (they go to the dead-letter topic).

    ``finish``, when set, produces the batch's outputs: the handler has done its
    work and sent what it waits on (the scorer: its decision records to Redis),
    and ``finish`` reads the answers and produces. With the next batch already
    in hand the loop calls it after handling that next batch, so the two
    overlap; otherwise at once. It may raise ``Retriable`` (then it is called
    again, with backoff) and returns the batch's final result.
    """

    dead_letters: list[DeadLetter] = field(default_factory=list)
    finish: Callable[[], BatchResult] | None = None


@dataclass
class LoopStats:
    batches: int = 0
    messages: int = 0
    dead_letters: int = 0
    retries: int = 0
    #: Batches whose ``finish`` ran after the next batch was handled.
    finished_late: int = 0


class MicroBatchConsumer(Generic[T]):
    """Consume, decode, handle, deliver, commit — in that order, batch after batch."""

    def __init__(
        self,
        consumer: Consumer,
        producer: Producer | TrackedProducer,
        topics: Sequence[str],
        decode: Callable[[bytes], T],
        handle: Callable[[list[tuple[Message, T]]], BatchResult],
        dead_letters: DeadLetterSink,
        *,
        max_batch: int = 256,
        max_wait_ms: int = 5,
        retry_backoff_s: tuple[float, float] = (0.05, 2.0),
        stop: StopFlag | None = None,
        in_flight: int = 1,
        prefetch: Callable[[list[tuple[Message, T]]], bool] | None = None,
        idle: Callable[[], None] | None = None,
        closing: Callable[[], None] | None = None,
    ) -> None:
        """``idle`` is called whenever a poll brings nothing and ``closing`` once
        before the loop closes (after its last batch): a handler's work for quiet
        moments and for the end (the scorer's: counting the transactions it
        decided while Redis was down). What they raise is logged, not raised."""
        if in_flight > 1 and not isinstance(producer, TrackedProducer):
            raise ValueError("in_flight > 1 needs a TrackedProducer shared with the handler")
        self.consumer = consumer
        self.producer = producer
        self.topics = list(topics)
        self.decode = decode
        self.handle = handle
        self.dead_letters = dead_letters
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.backoff = retry_backoff_s
        self.stop = stop or StopFlag()
        self.stats = LoopStats()
        self.in_flight = in_flight
        self.prefetch = prefetch
        self.idle = idle
        self.closing = closing
        # Processed batches whose offsets are not committed yet, oldest first.
        self._pending: deque[tuple[dict[tuple[str, int], int], BatchDeliveries]] = deque()
        # The next batch, taken and prefetched before the current one was handled.
        self._ahead: _Decoded[T] | None = None
        # A handled batch whose ``finish`` waits until the batch after it is handled.
        self._unfinished: tuple[_Decoded[T], BatchResult] | None = None
        self._held: set[tuple[str, int]] = set()  # partitions assigned to this consumer

    def run(
        self, *, max_messages: int | None = None, idle_exit_s: float | None = None
    ) -> LoopStats:
        """Loop until stopped (or, for tests and batch jobs, a message count / idle time)."""
        with kafka_errors(f"subscribing to {self.topics}"):
            self.consumer.subscribe(
                self.topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
        last_message = time.monotonic()
        try:
            while not self.stop.is_set():
                batch, self._ahead = self._ahead, None
                if batch is None:
                    messages = self._poll(self.max_wait_s)
                    if not messages:
                        self._call_hook(self.idle)
                        if self._pending:
                            self.producer.poll(0)
                            self._commit_delivered(wait=False, sync=False)
                        if idle_exit_s is not None and (
                            time.monotonic() - last_message > idle_exit_s
                        ):
                            break
                        continue
                    batch = self._decode(messages)
                    if len(messages) >= self.max_batch:
                        self._prefetch(batch)
                if batch.sent and len(batch.messages) >= self.max_batch:
                    # A backlog: the next batch's features go out before this one is handled.
                    following = self._poll(0)
                    if following:
                        self._ahead = self._decode(following)
                        self._prefetch(self._ahead)
                self._process(batch)
                # Idle means nothing to do since the last batch was handled, not since it came.
                last_message = time.monotonic()
                if max_messages is not None and self.stats.messages >= max_messages:
                    break
        finally:
            self.close()
        return self.stats

    def lag(self) -> dict[tuple[str, int], int]:
        """Messages behind the end of each assigned partition (from cached watermarks).

        Uses the watermarks the last fetches brought back, so it costs no broker
        round trip. (The embedded broker under-reports watermarks; Apache Kafka
        does not.)
        """
        lags: dict[tuple[str, int], int] = {}
        try:
            positions = self.consumer.position(self.consumer.assignment())
        except RuntimeError:
            return lags  # closed
        for tp in positions:
            if tp.offset < 0:
                continue
            _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                lags[(tp.topic, tp.partition)] = max(high - tp.offset, 0)
        return lags

    def close(self) -> None:
        try:
            self._finish_unfinished()
        except KafkaError as exc:
            log.warning("a handled batch not finished on close (will be redelivered): %s", exc)
        self._call_hook(self.closing)
        remaining = self.producer.flush(10)
        if self._pending and not remaining:
            try:
                self._commit_delivered(wait=False, sync=True)
            except KafkaError as exc:
                log.warning("not committed on close (will be redelivered): %s", exc)
        try:
            self.consumer.close()
        except RuntimeError:
            pass  # already closed

    @staticmethod
    def _call_hook(hook: Callable[[], None] | None) -> None:
        """A handler's idle / closing work: a failure there is logged, never the loop's end."""
        if hook is None:
            return
        try:
            hook()
        except Exception:
            log.exception("the handler's %s hook failed", getattr(hook, "__name__", "hook"))

    def _poll(self, timeout_s: float) -> list[Message]:
        with kafka_errors("consuming"):
            polled = self.consumer.consume(num_messages=self.max_batch, timeout=timeout_s)
        messages = []
        for msg in polled:
            error = msg.error()
            if error is None:
                messages.append(msg)
            else:
                # Broker-side errors are logged; librdkafka retries them itself.
                # (Partition-EOF events are off: enable.partition.eof defaults to false.)
                log.warning("consumer error: %s", error)
        return messages

    def _decode(self, messages: list[Message]) -> _Decoded[T]:
        good: list[tuple[Message, T]] = []
        letters: list[DeadLetter] = []
        for msg in messages:
            value = msg.value()
            try:
                if value is None:
                    raise ContractError("empty message (tombstone)")
                good.append((msg, self.decode(value)))
            except ContractError as exc:
                letters.append(DeadLetter(msg, exc.problem, "decode", exc.field))
            except Exception as exc:  # noqa: BLE001 - a decoder's surprise is this message's
                # A crash here would stop the partition for good: the offset is
                # never committed, so every restart meets the same bytes again.
                where = (msg.topic(), msg.partition(), msg.offset())
                log.exception("decoder failed on %s [%s] @ %s", *where)
                reason = f"undecodable: {type(exc).__name__}: {exc}"
                letters.append(DeadLetter(msg, reason, "decode"))
        return _Decoded(messages, good, letters)

    def _prefetch(self, batch: _Decoded[T]) -> None:
        if self.prefetch is None or not batch.good:
            return
        try:
            batch.sent = self.prefetch(batch.good)
        except Exception:  # an optimisation only: handling the batch redoes the work
            log.exception("prefetch failed; the batch is handled without it")

    def _process(self, batch: _Decoded[T]) -> None:
        good = batch.good
        result = self._retrying(lambda: self.handle(good) if good else BatchResult())
        self.stats.batches += 1
        self.stats.messages += len(batch.messages)
        # The batch before this one (if its finish waited) produces first: outputs
        # and commits stay in batch order.
        self._finish_unfinished()
        if result.finish is not None and self._ahead is not None and self._tracked() is not None:
            self._unfinished = (batch, result)  # finished after the next batch is handled
            self.stats.finished_late += 1
            return
        self._complete(batch, result)

    def _tracked(self) -> TrackedProducer | None:
        """The producer when batches are committed in flight (counted per batch), else None."""
        producer = self.producer
        return producer if isinstance(producer, TrackedProducer) and self.in_flight > 1 else None

    def _finish_unfinished(self) -> None:
        if self._unfinished is not None:
            batch, result = self._unfinished
            self._unfinished = None
            self._complete(batch, result)

    def _retrying(self, work: Callable[[], BatchResult]) -> BatchResult:
        attempt = 0
        while True:
            try:
                return work()
            except Retriable as exc:
                attempt += 1
                self.stats.retries += 1
                delay = min(self.backoff[0] * 2 ** (attempt - 1), self.backoff[1])
                log.warning("batch failed (%s); retry %d in %.2fs", exc, attempt, delay)
                if self.stop.wait(delay):
                    # Asked to stop while the dependency is down: leave the batch
                    # uncommitted; the next owner of these partitions redoes it.
                    raise KafkaError(f"stopped with an unprocessed batch: {exc}") from exc

    def _complete(self, batch: _Decoded[T], result: BatchResult) -> None:
        """Finish the batch's outputs, send its dead letters, then deliver and commit."""
        messages, letters = batch.messages, batch.letters
        finish = result.finish
        if finish is not None:
            done = self._retrying(finish)
            result = BatchResult([*result.dead_letters, *done.dead_letters])
        parked = (*letters, *result.dead_letters)
        for letter in parked:
            self.dead_letters.send(letter)
        if parked:
            # One line per batch, not per record: a flood of bad input must not
            # become a flood of logs. The topic's headers hold every reason.
            first = parked[0]
            log.warning(
                "dead-lettered %d record(s) of a batch of %d to %s; the first (%s [%s] @ %s): %s%s",
                len(parked),
                len(messages),
                self.dead_letters.topic,
                first.message.topic(),
                first.message.partition(),
                first.message.offset(),
                first.reason,
                f" at {first.field}" if first.field else "",
            )
        tracked = self._tracked()
        if tracked is not None:
            self._pending.append((_last_offsets(messages), tracked.next_batch()))
            tracked.poll(0)  # serve delivery reports that have arrived
            self._commit_delivered(wait=len(self._pending) >= self.in_flight, sync=False)
        else:
            self._deliver_then_commit(messages)
        self.stats.dead_letters += len(letters) + len(result.dead_letters)

    def _await_deliveries(self, limit_s: float | None = None) -> int:
        """Wait until the producer holds nothing unacknowledged; what is left when stopped.

        A broker that is down is waited out, not given up on after one round:
        librdkafka retries each message until its ``message.timeout.ms`` (300 s
        by default) and then reports it failed, which ends the wait too. Until
        then nothing is committed. A stop request ends the wait within a second
        (the batch is then redelivered to whoever owns its partitions next), and
        so does ``limit_s`` (a rebalance must not wait minutes for a broker).
        """
        waited, logged = 0.0, 0.0
        step = min(1.0, _FLUSH_ROUND_S)
        while True:
            remaining: int = self.producer.flush(step)
            waited += step
            if remaining == 0 or self.stop.is_set() or (limit_s is not None and waited >= limit_s):
                return remaining
            if waited - logged >= _FLUSH_ROUND_S:
                logged = waited
                log.warning(
                    "broker not acknowledging: %d message(s) undelivered after %.0f s; "
                    "waiting, offsets not committed", remaining, waited,
                )  # fmt: skip

    def _deliver_then_commit(self, messages: list[Message]) -> None:
        remaining = self._await_deliveries()
        failures = self.dead_letters.tracker.take_failures()
        if remaining or failures:
            # Not committing means the batch comes back: outputs are idempotent.
            raise KafkaError(
                f"{remaining} undelivered, {len(failures)} failed ({failures[:3]}); "
                "offsets not committed",
                retriable=True,
            )
        self._commit(_last_offsets(messages), sync=True)

    def _commit_delivered(self, *, wait: bool, sync: bool, limit_s: float | None = None) -> None:
        """Commit the oldest pending batches whose messages were all acknowledged."""
        if wait:
            remaining = self._await_deliveries(limit_s)
            if remaining:
                raise KafkaError(f"{remaining} undelivered; offsets not committed", retriable=True)
        offsets: dict[tuple[str, int], int] = {}
        while self._pending and self._pending[0][1].complete:
            batch_offsets, deliveries = self._pending[0]
            failures = deliveries.failures + self.dead_letters.tracker.take_failures()
            if failures:
                raise KafkaError(
                    f"{len(failures)} failed ({failures[:3]}); offsets not committed",
                    retriable=True,
                )
            self._pending.popleft()
            for key, offset in batch_offsets.items():
                offsets[key] = max(offsets.get(key, -1), offset)
        if offsets:
            self._commit(offsets, sync=sync)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._held |= {(tp.topic, tp.partition) for tp in partitions}

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The next owner starts from the committed offsets: hand over all we can.
        try:
            self._finish_unfinished()
        except KafkaError as exc:
            log.warning("a handled batch not finished before revocation: %s", exc)
        if self._pending:
            try:
                self._commit_delivered(wait=True, sync=True, limit_s=_REVOKE_WAIT_S)
            except KafkaError as exc:
                log.warning("not committed before revocation (will be redelivered): %s", exc)
        self._held -= {(tp.topic, tp.partition) for tp in partitions}

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._held -= {(tp.topic, tp.partition) for tp in partitions}

    def _commit(self, offsets: dict[tuple[str, int], int], *, sync: bool) -> None:
        commit = [
            TopicPartition(t, p, o + 1) for (t, p), o in offsets.items() if (t, p) in self._held
        ]
        if not commit:
            return
        try:
            # An asynchronous commit that fails is superseded by the next one; a
            # crash before it lands only redelivers batches (outputs are idempotent).
            if sync:
                self.consumer.commit(offsets=commit, asynchronous=False)
            else:
                self.consumer.commit(offsets=commit, asynchronous=True)
        except KafkaException as exc:
            if not membership_lost(exc):
                raise translate_kafka_error(exc, "committing offsets") from exc
            # Out of the group (stalled past the session timeout: a SCHED_IDLE
            # worker on a saturated machine, a frozen VM): these partitions go on
            # from their committed offsets, here after the next poll rejoins or at
            # another member, so the batches are redelivered, which their outputs
            # tolerate. Before, the process exited on the commit's error.
            # (What it holds is updated by the lost / revoke / assign callbacks.)
            log.warning("offsets not committed, out of the consumer group (redelivered): %s", exc)


@dataclass
class _Decoded(Generic[T]):
    """A polled batch: its messages, the ones that decoded, and dead letters for the rest."""

    messages: list[Message]
    good: list[tuple[Message, T]]
    letters: list[DeadLetter]
    sent: bool = False  # ``prefetch`` sent its work ahead


def _last_offsets(messages: list[Message]) -> dict[tuple[str, int], int]:
    offsets: dict[tuple[str, int], int] = {}
    for msg in messages:
        key = (msg.topic() or "", msg.partition() or 0)
        offsets[key] = max(offsets.get(key, -1), msg.offset() or 0)
    return offsets

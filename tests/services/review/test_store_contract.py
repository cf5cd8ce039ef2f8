"""The case store's contract, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading

import pytest
from msgspec.structs import replace
from sqlalchemy import func, select

from contracts.codec import decode_as
from contracts.events import Event, Label
from services.review.exceptions import CaseConflictError, CaseNotFoundError
from services.review.ingest import IngestBatch
from services.review.tables import audit, label_outbox, recent_transactions
from services.review.views import QueueFilter
from tests.services.review.conftest import BACKENDS
from tests.services.review.events import (
    DAY,
    MINUTE,
    analysis,
    decision,
    explanation,
    ingest,
    message,
    transaction,
)

pytestmark = pytest.mark.parametrize("store", BACKENDS, indirect=True)
T_LATER = 1_800_000_000_000


def _ids(page) -> list[str]:
    return [item.tx_id for item in page.items]


# -- ingest ---------------------------------------------------------------------------


def test_a_redelivered_case_changes_nothing_an_analyst_did(store) -> None:
    ingest(store, decision(1), decision(2), transaction(1), transaction(2))
    store.claim("tx-1", "ann")
    store.decide("tx-2", "bob", is_fraud=True)

    ingest(store, decision(1, score=0.01), decision(2, score=0.01), transaction(1))

    one, two = store.case("tx-1"), store.case("tx-2")
    assert (one.summary.claimed_by, one.summary.score) == ("ann", 0.5)
    assert (two.summary.status, two.summary.verdict) == ("decided", "fraud")
    assert store.queue(QueueFilter(status="all"), viewer="ann").total == 2


def test_explanations_and_analyses_join_on_read_and_the_newest_wins(store) -> None:
    early = explanation(1, text="template words", source="template", fallback_reason="timeout")
    ingest(store, early, message(1), analysis(1, summary="old reading"))
    ingest(store, decision(1), transaction(1))
    case = store.case("tx-1")
    assert case.explanation is not None and case.explanation.is_template
    assert case.explanation.fallback_reason == "timeout"
    assert case.messages[0].analysis is not None
    assert case.messages[0].analysis.summary == "old reading"

    later = explanation(1, text="model words", generated_at_ms=early.generated_at_ms + 1)
    ingest(store, later, analysis(1, summary="new reading", analysed_at_ms=T_LATER))
    ingest(store, early)  # an old one redelivered does not replace the newer
    case = store.case("tx-1")
    assert case.explanation is not None
    assert (case.explanation.text, case.explanation.is_template) == ("model words", False)
    assert case.messages[0].analysis is not None
    assert case.messages[0].analysis.summary == "new reading"


def test_a_model_explanation_is_not_replaced_by_a_later_template(store) -> None:
    """A redelivered case is explained again, often by the template (the worker
    busy): the analyst keeps the model's words, in whatever order they arrive."""
    ingest(store, decision(1), transaction(1), decision(2), transaction(2))
    model = explanation(1, text="model words")
    template = explanation(
        1, text="template words", source="template", fallback_reason="timeout",
        generated_at_ms=model.generated_at_ms + 60_000,
    )  # fmt: skip
    ingest(store, model)
    ingest(store, template)  # later, in another batch
    ingest(store, explanation(2, text="model words"), replace(template, tx_id="tx-2"))  # one batch
    for tx_id in ("tx-1", "tx-2"):
        shown = store.case(tx_id).explanation
        assert shown is not None and (shown.text, shown.is_template) == ("model words", False)
    # Between two of the model's, the newest still wins.
    newer = explanation(1, text="newer model words", generated_at_ms=template.generated_at_ms)
    ingest(store, newer)
    shown = store.case("tx-1").explanation
    assert shown is not None and shown.text == "newer model words"


def test_transactions_and_decisions_fill_one_activity_row_in_any_order(store) -> None:
    ingest(store, decision(1, action="allow", score=0.1), as_cases=False)
    ingest(store, transaction(1, amount=99.5), transaction(2))
    ingest(store, decision(2, action="block", score=0.97), as_cases=False)
    ingest(store, decision(3), transaction(3))  # the case

    recent = {t.tx_id: t for t in store.case("tx-3").recent}
    assert (recent["tx-1"].amount, recent["tx-1"].action) == (99.5, "allow")
    assert (recent["tx-2"].action, recent["tx-2"].score) == ("block", 0.97)
    assert [t.tx_id for t in store.case("tx-3").recent] == ["tx-3", "tx-2", "tx-1"]


def test_a_batch_with_the_same_keys_twice_is_written_once(store) -> None:
    batch = IngestBatch()
    for _ in range(2):
        batch.add_case(decision(1), received_at_ms=1)
        batch.add_decision(decision(1))
        batch.add_transaction(transaction(1))
        batch.add_explanation(explanation(1))
        batch.add_message(message(1))
        batch.add_analysis(analysis(1))
    store.ingest(batch)
    case = store.case("tx-1")
    assert len(case.recent) == 1 and len(case.messages) == 1


# -- the queue ------------------------------------------------------------------------


def test_the_queue_is_ordered_by_risk_then_age(store) -> None:
    ingest(
        store,
        decision(1, score=0.6),
        decision(2, score=0.9),
        decision(3, score=0.6, decided_at_ms=decision(1).decided_at_ms - 1),  # older
        decision(4, score=0.99, action="block"),
    )
    page = store.queue(QueueFilter(), viewer="ann")
    assert _ids(page) == ["tx-4", "tx-2", "tx-3", "tx-1"]
    assert page.total == 4


def test_pages_cover_the_queue_once(store) -> None:
    ingest(store, *(decision(i, score=(i % 7) / 10) for i in range(23)))
    seen = []
    for number in (1, 2, 3):
        page = store.queue(QueueFilter(), viewer="ann", page=number, per_page=10)
        assert (page.total, page.pages) == (23, 3)
        seen += _ids(page)
    assert sorted(seen) == sorted(f"tx-{i}" for i in range(23))
    assert len(seen) == 23


def test_filters_by_action_tag_amount_and_status(store, clock) -> None:
    ingest(
        store,
        decision(1, action="block", tags=["high_risk_mcc"], features={"amount": 500.0}),
        decision(2, tags=["high_risk_mcc", "new_device"], features={"amount": 50.0}),
        decision(3, features={"amount": 5.0}),
        decision(4, features={"amount": 80.0}),
    )
    assert _ids(store.queue(QueueFilter(action="block"), viewer="ann")) == ["tx-1"]
    assert set(_ids(store.queue(QueueFilter(tag="high_risk_mcc"), viewer="ann"))) == {
        "tx-1",
        "tx-2",
    }
    amounts = QueueFilter(min_amount=40, max_amount=100)
    assert set(_ids(store.queue(amounts, viewer="ann"))) == {"tx-2", "tx-4"}

    store.claim("tx-2", "ann")
    store.claim("tx-3", "bob")
    store.decide("tx-4", "bob", is_fraud=False)
    assert set(_ids(store.queue(QueueFilter(status="open"), viewer="ann"))) == {
        "tx-1",
        "tx-2",
        "tx-3",
    }
    assert _ids(store.queue(QueueFilter(status="unclaimed"), viewer="ann")) == ["tx-1"]
    assert set(_ids(store.queue(QueueFilter(status="claimed"), viewer="ann"))) == {
        "tx-2",
        "tx-3",
    }
    assert _ids(store.queue(QueueFilter(status="mine"), viewer="ann")) == ["tx-2"]
    assert _ids(store.queue(QueueFilter(status="decided"), viewer="ann")) == ["tx-4"]
    assert store.queue(QueueFilter(status="all"), viewer="ann").total == 4

    clock.advance(store.claim_ttl_ms)  # claims lapse: those cases are unclaimed again
    assert set(_ids(store.queue(QueueFilter(status="unclaimed"), viewer="ann"))) == {
        "tx-1",
        "tx-2",
        "tx-3",
    }
    assert store.case("tx-2").summary.claimed_by is None


# -- claims ---------------------------------------------------------------------------


def test_claims_conflict_expire_and_release(store, clock) -> None:
    ingest(store, decision(1))
    expires = store.claim("tx-1", "ann")
    assert expires == clock.now_ms + store.claim_ttl_ms
    with pytest.raises(CaseConflictError) as refused:
        store.claim("tx-1", "bob")
    assert refused.value.holder == "ann"
    assert store.claim("tx-1", "ann") == expires  # renewing one's own claim is fine
    with pytest.raises(CaseConflictError):
        store.release("tx-1", "bob")
    assert store.release("tx-1", "admin", any_holder=True) == "ann"
    assert store.claim("tx-1", "bob") > 0

    clock.advance(store.claim_ttl_ms + 1)
    assert store.claim("tx-1", "ann") > 0  # bob's claim lapsed
    with pytest.raises(CaseNotFoundError):
        store.claim("tx-404", "ann")
    actions = [(e.actor, e.action) for e in store.audit(tx_id="tx-1")][::-1]
    assert actions == [
        ("ann", "claim"),
        ("ann", "claim"),
        ("admin", "release"),
        ("bob", "claim"),
        ("ann", "claim"),
    ]


def _race(contenders: list[str], attempt) -> list[str]:
    """Start ``attempt(name)`` in one thread per contender at once; returns the winners."""
    winners: list[str] = []
    barrier = threading.Barrier(len(contenders))

    def run(name: str) -> None:
        barrier.wait()
        try:
            attempt(name)
        except CaseConflictError:
            return
        winners.append(name)

    threads = [threading.Thread(target=run, args=(name,)) for name in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners


def test_two_analysts_racing_for_a_case_get_one_winner(store) -> None:
    ingest(store, *(decision(i) for i in range(5)))
    analysts = [f"analyst-{n}" for n in range(6)]
    for tx in range(5):
        tx_id = f"tx-{tx}"
        winners = _race(analysts, lambda name, tx_id=tx_id: store.claim(tx_id, name))
        assert len(winners) == 1, winners
        assert store.case(tx_id).summary.claimed_by == winners[0]


# -- verdicts -------------------------------------------------------------------------


def test_a_verdict_writes_the_case_the_audit_and_one_label(store, clock) -> None:
    ingest(store, decision(1), transaction(1))
    store.claim("tx-1", "ann")
    label = store.decide("tx-1", "ann", is_fraud=True, note="  customer denies it  ")

    case = store.case("tx-1")
    assert (case.summary.status, case.summary.verdict, case.verdict_by) == (
        "decided",
        "fraud",
        "ann",
    )
    assert case.verdict_note == "customer denies it"
    assert case.summary.claimed_by is None
    with store.engine.connect() as connection:
        ((key, payload),) = connection.execute(select(label_outbox.c.key, label_outbox.c.payload))
        verdicts = connection.execute(
            select(func.count()).where(audit.c.action == "verdict", audit.c.actor == "ann")
        ).scalar()
    stored = decode_as(payload, Label)
    assert stored == label
    assert key == b"card-1"
    assert (label.tx_id, label.is_fraud, label.source, label.analyst) == (
        "tx-1",
        True,
        "analyst",
        "ann",
    )
    assert (label.device_id, label.ip, label.merchant_id) == ("dev-1", "10.0.0.1", "m-1")
    assert label.known_at_ms == clock.now_ms
    assert label.event_time_ms == transaction(1).event_time_ms
    assert verdicts == 1


def test_a_case_is_decided_once(store) -> None:
    ingest(store, decision(1))
    store.decide("tx-1", "ann", is_fraud=False)
    with pytest.raises(CaseConflictError, match="already decided"):
        store.decide("tx-1", "bob", is_fraud=True)
    with pytest.raises(CaseConflictError):
        store.claim("tx-1", "bob")
    assert store.case("tx-1").summary.verdict == "legitimate"
    assert store.count_pending_labels() == 1


def test_a_case_someone_holds_cannot_be_decided_by_another(store) -> None:
    ingest(store, decision(1))
    store.claim("tx-1", "ann")
    with pytest.raises(CaseConflictError, match="claimed by ann"):
        store.decide("tx-1", "bob", is_fraud=True)
    assert store.count_pending_labels() == 0


def test_racing_verdicts_yield_one_label(store) -> None:
    ingest(store, decision(1), transaction(1))
    analysts = [f"analyst-{n}" for n in range(6)]
    winners = _race(analysts, lambda name: store.decide("tx-1", name, is_fraud=True))
    assert len(winners) == 1
    assert store.case("tx-1").verdict_by == winners[0]
    assert store.count_pending_labels() == 1


def test_a_label_without_its_transaction_still_says_what_it_knows(store) -> None:
    ingest(store, decision(1))  # the transaction never arrived
    label = store.decide("tx-1", "ann", is_fraud=True)
    assert (label.card_id, label.device_id, label.ip, label.merchant_id) == (
        "card-1",
        None,
        None,
        None,
    )


def test_the_outbox_hands_out_unsent_labels_until_marked(store) -> None:
    ingest(store, decision(1), decision(2))
    store.decide("tx-1", "ann", is_fraud=True)
    store.decide("tx-2", "ann", is_fraud=False)
    with store.pending_labels(10) as outbox:
        assert [item.tx_id for item in outbox.labels] == ["tx-1", "tx-2"]
        outbox.mark_sent([outbox.labels[0].id])
    with store.pending_labels(10) as outbox:
        assert [item.tx_id for item in outbox.labels] == ["tx-2"]
    assert store.count_pending_labels() == 1


# -- retention ------------------------------------------------------------------------


def _allowed(*numbers: int) -> list[Event]:
    """Transactions with their ``allow`` decisions (no case comes for them)."""
    events: list[Event] = []
    for i in numbers:
        events += [transaction(i), decision(i, action="allow", reasons=[], score=0.01)]
    return events


def test_activity_is_capped_per_customer_but_cases_keep_their_transaction(store) -> None:
    store.recent_per_customer = 3
    ingest(store, decision(0), transaction(0))  # a case: kept whatever its age
    ingest(store, *_allowed(*range(1, 8)), as_cases=False)
    ingest(store, *(message(i) for i in range(6)))
    ingest(store, transaction(100, customer_id="cust-2"))
    case = store.case("tx-0")
    assert [t.tx_id for t in case.recent] == ["tx-7", "tx-6", "tx-5", "tx-0"]
    assert [m.message_id for m in case.messages] == ["msg-5", "msg-4", "msg-3"]
    assert case.transaction is not None


def test_a_flagged_transaction_whose_case_comes_late_keeps_what_its_label_needs(store) -> None:
    """A burst of the customer's transactions is ingested before the first one's
    case arrives: the cap keeps that transaction (its decision said flag), so the
    analyst's verdict still carries its device, IP and merchant."""
    store.recent_per_customer = 3
    ingest(store, transaction(0, device_id="dev-9", ip="10.9.9.9", merchant_id="m-9"))
    ingest(store, decision(0), as_cases=False)  # decided `flag`; its case not here yet
    ingest(store, *_allowed(*range(1, 8)), as_cases=False)
    ingest(store, decision(0))  # the case, late
    label = store.decide("tx-0", "ann", is_fraud=True)
    assert (label.device_id, label.ip, label.merchant_id) == ("dev-9", "10.9.9.9", "m-9")
    assert [t.tx_id for t in store.case("tx-0").recent] == ["tx-7", "tx-6", "tx-5", "tx-0"]


def test_transactions_still_awaiting_their_decision_are_not_capped(store) -> None:
    store.recent_per_customer = 2
    ingest(store, *(transaction(i) for i in range(5)))  # no decisions yet
    ingest(store, *_allowed(5, 6, 7), as_cases=False)
    with store.engine.connect() as connection:
        kept = connection.execute(select(recent_transactions.c.tx_id)).scalars().all()
    assert sorted(kept) == ["tx-0", "tx-1", "tx-2", "tx-3", "tx-4", "tx-6", "tx-7"]


def test_old_activity_is_pruned_by_event_time(store) -> None:
    store.recent_days = 2
    ingest(store, decision(0), transaction(0))
    ingest(store, transaction(1), message(1))
    late = 3 * DAY // MINUTE
    ingest(store, transaction(late), message(late))
    assert store.prune_by_age() == 2  # tx-1 and msg-1; the case's tx-0 stays
    case = store.case("tx-0")
    assert [t.tx_id for t in case.recent] == [f"tx-{late}", "tx-0"]
    assert [m.message_id for m in case.messages] == [f"msg-{late}"]
    with store.engine.connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(recent_transactions)).scalar() == 2
        )


# -- users ----------------------------------------------------------------------------


def test_users_are_added_checked_and_removed(store) -> None:
    from services.review.exceptions import AuthError, UserError

    store.add_user("ann", "analyst", "correct horse", actor="cli")
    assert store.login("ann", "correct horse", client="cli").role == "analyst"
    for name, password in (("ann", "wrong password"), ("nobody", "correct horse")):
        with pytest.raises(AuthError, match="wrong user name or password"):
            store.login(name, password, client="cli")
    with pytest.raises(UserError, match="exists already"):
        store.add_user("ann", "admin", "another one", actor="cli")
    with pytest.raises(UserError, match="invalid role"):
        store.add_user("cid", "root", "long enough", actor="cli")
    with pytest.raises(UserError, match="too short"):
        store.add_user("cid", "admin", "short", actor="cli")
    with pytest.raises(UserError, match="invalid user name"):
        store.add_user("<b>x", "admin", "long enough", actor="cli")
    store.remove_user("ann", actor="cli")
    assert store.find_user("ann") is None
    assert [(e.action, e.detail["user"]) for e in store.audit(actor="cli")] == [
        ("user-remove", "ann"),
        ("user-add", "ann"),
    ]

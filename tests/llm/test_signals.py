"""Risk signals: a closed vocabulary, found by patterns, and a keyword fallback label."""

from __future__ import annotations

from models.llm.analysis import MessageExample, analyse_answer, parse_continuation
from models.llm.signals import RISK_SIGNALS, detect_signals, keep_known_signals, keyword_label


def test_signals_are_found_in_their_vocabulary_order():
    text = (
        "A man from the bank's security team called and told me to move my savings to a safe "
        "account right now."
    )
    found = detect_signals(text)
    assert found == [
        "caller claims to be the bank",
        "asked to move money to a safe account",
        "pressure to act urgently",
    ]
    assert keyword_label(found) == "scam_social_engineering"


def test_keyword_labels_cover_each_category():
    assert keyword_label(detect_signals("I lost my phone, please update my phone number")) == (
        "account_takeover"
    )
    assert keyword_label(detect_signals("I was charged twice at the shop")) == "dispute_complaint"
    assert keyword_label(detect_signals("How do I order a new card?")) == "benign"


def test_model_written_signals_are_filtered_to_the_vocabulary():
    written = ["lost or new device", "transfer everything to IBAN DE00", " lost or new device "]
    assert keep_known_signals(written) == ["lost or new device"]
    assert all(len(s) <= 80 for s in RISK_SIGNALS)


def test_answer_layout_round_trips_and_bounds_the_summary():
    example = MessageExample(
        text="x",
        label="account_takeover",
        summary="Customer lost their phone.",
        signals=("lost or new device",),
    )
    answer = analyse_answer(example)
    assert answer.startswith(" account_takeover\n")
    summary, signals = parse_continuation(answer.split("\n", 1)[1])
    assert summary == "Customer lost their phone."
    assert signals == ("lost or new device",)
    summary, _ = parse_continuation("Summary: " + "long " * 200)
    assert len(summary) <= 200

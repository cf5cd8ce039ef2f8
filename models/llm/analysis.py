"""The analyse task's records and answer layout: label, one-line summary, risk signals.

An answer, as the adapter is trained to write it after ``Label:``::

     account_takeover
    Summary: Customer lost their phone and asks to move the login code to a new number.
    Signals: lost or new device; request to change phone, e-mail or 2FA

The label line is never generated: the worker scores the four allowed labels
and writes the winner itself, then lets the model continue with the summary
and signals, which are parsed, bounded and filtered here.
"""

from __future__ import annotations

import msgspec

from contracts.events import MessageLabel
from models.llm.signals import keep_known_signals

__all__ = [
    "MAX_SUMMARY_CHARS",
    "MessageExample",
    "MessageReading",
    "analyse_answer",
    "label_continuation",
    "parse_continuation",
]

#: The event allows 300; a summary is one line.
MAX_SUMMARY_CHARS = 200


class MessageExample(msgspec.Struct, frozen=True, kw_only=True):
    """One training / evaluation record: a message and what a careful reader makes of it."""

    text: str
    label: MessageLabel
    summary: str
    signals: tuple[str, ...] = ()
    #: True when the text carries an instruction aimed at the assistant (for robustness metrics).
    injected: bool = False


class MessageReading(msgspec.Struct, frozen=True, kw_only=True):
    """What the analyse step made of one message."""

    label: MessageLabel
    #: Probability per allowed label, from the scored likelihoods (sums to 1).
    label_scores: dict[str, float]
    summary: str
    signals: tuple[str, ...]


def label_continuation(label: str) -> str:
    """The scored text after ``Label:`` for ``label`` (the newline ends it, so no label is a
    prefix of another's score)."""
    return f" {label}\n"


def analyse_answer(example: MessageExample) -> str:
    """The full training target after ``Label:``."""
    signals = "; ".join(example.signals) if example.signals else "none"
    return f"{label_continuation(example.label)}Summary: {example.summary}\nSignals: {signals}"


def parse_continuation(generated: str) -> tuple[str, tuple[str, ...]]:
    """Summary and signals out of the text generated after the label line, bounded and filtered."""
    summary = ""
    signals: tuple[str, ...] = ()
    for line in generated.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "summary" and not summary:
            summary = " ".join(value.split())[:MAX_SUMMARY_CHARS]
        elif key == "signals" and not signals:
            signals = tuple(keep_known_signals(value.split(";")))
    return summary, signals

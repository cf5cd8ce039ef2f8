"""Risk signals in customer messages: the closed vocabulary, and a keyword reading of them.

The analyse adapter writes signals from ``RISK_SIGNALS`` only; anything else it
writes is dropped (``keep_known_signals``), so model output can never put
arbitrary words into an analysis. ``detect_signals`` finds the same signals
with patterns: the training-data builder uses it to write targets, and the
worker's fallback analysis uses it (with ``keyword_label``) when the model is
slow or down.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from contracts.events import MessageLabel

__all__ = [
    "INSTRUCTION_SIGNAL",
    "RISK_SIGNALS",
    "detect_signals",
    "keep_known_signals",
    "keyword_label",
]

#: Added by code (never by the model) when the sanitiser removed instructions.
INSTRUCTION_SIGNAL = "instructions aimed at the assistant"

_PATTERNS: dict[str, str] = {
    "caller claims to be the bank": (
        r"(from (the bank|your)|your colleague|claimed to be from the bank|"
        r"pretending to be your|bank's (security|fraud)|called and|on the phone|got a call)"
    ),
    "asked to move money to a safe account": (
        r"(safe account|secure holding account|protected account|safe wallet|"
        r"new account they opened|move (my|all my|the) (money|savings|salary))"
    ),
    "pressure to act urgently": (
        r"(right now|immediately|within the hour|before 5pm|\btoday\b|or I lose)"
    ),
    "asked to keep it secret": r"(not to tell|don't tell|do not tell)",
    "request to raise a transfer limit": (
        r"(raise my transfer limit|increase my daily limit|unblock it)"
    ),
    "money already sent to a fraudster": (
        r"(i was scammed|tricked into|i now realise it was a fraud|nobody answers|"
        r"made me send|transferred .{0,40} on the instructions)"
    ),
    "lost or new device": (
        r"(lost|broke|dropped|replaced|sold|cracked|changed|new) (my )?"
        r"(phone|mobile|laptop|tablet|device)"
    ),
    "request to change phone, e-mail or 2FA": (
        r"(update my phone number|change the phone number|new number|switch two-factor|"
        r"new e-mail|send the .{0,20}code .{0,20}(by e-mail|somewhere else))"
    ),
    "asks to skip verification": r"skip (the )?(letter )?verification",
    "unrecognised login or device": (
        r"(logged into my account|device i don't know|strange login|weird login|"
        r"suspicious login|odd login|unknown login|device is registered|hacked me)"
    ),
    "payments the customer did not make": (
        r"(didn't make|did not make|did not authorise|never approved|i never asked|"
        r"not authorise|transactions on my card abroad|using my card number)"
    ),
    "card still with the customer": r"(card with me|card is in my wallet|at home all day)",
    "charged wrongly or twice": (
        r"(charged twice|double charged|wrong amount|charged after i cancelled|"
        r"billed for something i returned|still billed)"
    ),
    "goods not received": r"(never received my order)",
    "service complaint": (
        r"(unacceptable|not happy|kept me waiting|very embarrassing|nothing has happened)"
    ),
}  # fmt: skip

#: Every signal an analysis may carry, in a fixed order.
RISK_SIGNALS: tuple[str, ...] = (*_PATTERNS, INSTRUCTION_SIGNAL)
_COMPILED = {name: re.compile(pattern, re.I) for name, pattern in _PATTERNS.items()}

# The fallback classifier: which signals point at which label (first match wins, in order).
_LABEL_BY_SIGNAL: tuple[tuple[MessageLabel, frozenset[str]], ...] = (
    (
        "scam_social_engineering",
        frozenset(
            {
                "asked to move money to a safe account",
                "asked to keep it secret",
                "money already sent to a fraudster",
                "request to raise a transfer limit",
            }
        ),
    ),
    (
        "account_takeover",
        frozenset(
            {
                "request to change phone, e-mail or 2FA",
                "unrecognised login or device",
                "asks to skip verification",
                "lost or new device",
            }
        ),
    ),
    (
        "dispute_complaint",
        frozenset(
            {
                "payments the customer did not make",
                "card still with the customer",
                "charged wrongly or twice",
                "goods not received",
                "service complaint",
            }
        ),
    ),
)


def detect_signals(text: str) -> list[str]:
    """The vocabulary's signals whose patterns occur in ``text``, in vocabulary order."""
    return [name for name, pattern in _COMPILED.items() if pattern.search(text)]


def keyword_label(signals: Iterable[str]) -> MessageLabel:
    """A coarse label from signals alone (the fallback when the model cannot answer)."""
    found = set(signals)
    for label, indicative in _LABEL_BY_SIGNAL:
        if found & indicative:
            return label
    return "benign"


def keep_known_signals(written: Iterable[str]) -> list[str]:
    """Only the vocabulary's signals, each once, in the order written."""
    known = set(RISK_SIGNALS)
    return list(dict.fromkeys(s.strip() for s in written if s.strip() in known))

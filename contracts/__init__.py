"""Shared event contracts and settings: the one place every package may import.

This package imports none of ``services``, ``feature_store``, ``models`` or
``rules``; they all import it. Keep it small.
"""

from __future__ import annotations

from contracts.codec import decode, decode_as, encode
from contracts.errors import ConfigError, ContractError, FraudstreamError
from contracts.events import Decision, Event, FeatureContribution, Label, Transaction, UserMessage

__all__ = [
    "ConfigError",
    "ContractError",
    "Decision",
    "Event",
    "FeatureContribution",
    "FraudstreamError",
    "Label",
    "Transaction",
    "UserMessage",
    "decode",
    "decode_as",
    "encode",
]

"""Decoders the consumer loops use: bytes -> one event kind, or ``ContractError``."""

from __future__ import annotations

from contracts.codec import decode_as
from contracts.events import Label, Transaction

__all__ = ["decode_label", "decode_transaction"]


def decode_label(data: bytes) -> Label:
    return decode_as(data, Label)


def decode_transaction(data: bytes) -> Transaction:
    return decode_as(data, Transaction)

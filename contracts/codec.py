"""Encode and decode events: versioned JSON through msgspec (fast, validating).

``decode`` never lets a vendor exception out: anything wrong with the bytes
(not UTF-8, not JSON, wrong type, missing field, absurd value, unknown kind or
version, oversized) becomes a ``ContractError`` whose ``field`` names the JSON
path and whose ``problem`` says what is wrong. The scorer puts exactly that on
the dead-letter topic next to the original bytes.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from contracts.errors import ContractError
from contracts.events import (
    Decision,
    Event,
    Explanation,
    Label,
    MessageAnalysis,
    Transaction,
    UserMessage,
)

__all__ = ["MAX_MESSAGE_BYTES", "decode", "decode_as", "encode", "to_builtins"]

#: Larger payloads are rejected before parsing (a transaction is ~400 bytes).
MAX_MESSAGE_BYTES = 64 * 1024

E = TypeVar("E", Transaction, UserMessage, Label, Decision, Explanation, MessageAnalysis)

_ENCODER = msgspec.json.Encoder()
_ANY_DECODER: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(kind)
    for kind in (Transaction, UserMessage, Label, Decision, Explanation, MessageAnalysis)
}
_AT_PATH = re.compile(r"^(?P<problem>.*?)(?: - at `(?P<field>\$[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")


def encode(event: Event) -> bytes:
    """One event as compact JSON bytes (the ``type`` and ``v`` envelope included)."""
    return _ENCODER.encode(event)


def decode(data: bytes) -> Event:
    """Any event kind, chosen by its ``type`` field."""
    event: Event = _decode(data, _ANY_DECODER, None)
    return event


def decode_as(data: bytes, kind: type[E]) -> E:
    """Exactly one event kind; another ``type`` is a ``ContractError``."""
    return _decode(data, _DECODERS[kind], kind.__name__)  # type: ignore[no-any-return]


def to_builtins(event: Event) -> dict[str, Any]:
    """The event as plain dicts/lists (for DataFrames, YAML, logs)."""
    out: dict[str, Any] = msgspec.to_builtins(event)
    return out


def _decode(data: bytes, decoder: msgspec.json.Decoder[Any], kind: str | None) -> Any:
    if len(data) > MAX_MESSAGE_BYTES:
        raise ContractError(
            f"message of {len(data)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit", kind=kind
        )
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _contract_error(str(exc), kind) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"not valid UTF-8 JSON: {exc}", kind=kind) from exc
    except RecursionError as exc:
        # ~1,000 nested brackets (2 KB) exhaust the parser's stack, even in a
        # field no contract has: the message's fault, not the consumer's.
        raise ContractError(f"JSON nested too deeply: {exc}", kind=kind) from exc


def _contract_error(message: str, kind: str | None) -> ContractError:
    match = _AT_PATH.match(message)
    problem = match.group("problem") if match else message
    field = match.group("field") if match else None
    if field is None and (missing := _MISSING.search(message)):
        field = f"$.{missing.group('name')}"
    return ContractError(problem, field=field, kind=kind)

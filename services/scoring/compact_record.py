"""The bytes Redis keeps of a decision: MessagePack, the feature vector as bare values.

A decision on the wire is JSON whose feature vector is a map of every feature
name to its value (~2.5 KB in all). Kept per transaction for the dedup TTL,
that map was most of Redis' memory. The record keeps the decision without the
map, the values in ``FEATURE_NAMES`` order and a checksum of those names
(~0.9 KB). Read back it is the same decision, so its JSON is the same bytes
(floats travel as float64 both ways, the map is rebuilt in the same order).

* A decision whose features are not exactly ``FEATURE_NAMES`` in order (a
  degraded decision has none) is kept whole.
* A record whose checksum differs was written by a release with other
  features: its values cannot be named. The decision comes back with the
  features of the delivery at hand (the same transaction's, which the feature
  store's own dedup record served), and a warning is logged.
* Records written as JSON (before this module) are read as JSON.
"""

from __future__ import annotations

import logging
import zlib

import msgspec

from contracts.codec import decode_as
from contracts.errors import ContractError
from contracts.events import Decision
from feature_store import FEATURE_NAMES

__all__ = ["NAMES_CHECKSUM", "pack_decision", "unpack_decision"]

log = logging.getLogger(__name__)

#: Which feature names (and order) a record's values follow.
NAMES_CHECKSUM = zlib.crc32("\n".join(FEATURE_NAMES).encode())


class _Record(msgspec.Struct, array_like=True, frozen=True):
    decision: Decision
    names: int = 0  # NAMES_CHECKSUM when ``values`` hold the features; 0: the decision has them
    values: list[float | None] = msgspec.field(default_factory=list)


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Record).decode


def pack_decision(decision: Decision) -> bytes:
    """The record of ``decision`` (``unpack_decision`` gives it back)."""
    features = decision.features
    if len(features) == len(FEATURE_NAMES) and tuple(features) == FEATURE_NAMES:
        bare = msgspec.structs.replace(decision, features={})
        return _encode(_Record(bare, NAMES_CHECKSUM, list(features.values())))
    return _encode(_Record(decision))


def unpack_decision(data: bytes, current: Decision) -> Decision:
    """The decision in record ``data``; ``current`` is this delivery's decision of the
    same transaction (its features stand in for values that cannot be named)."""
    if data[:1] == b"{":
        return decode_as(data, Decision)
    try:
        record = _decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ContractError(f"unreadable decision record: {exc}", kind="Decision") from exc
    if not record.names:
        return record.decision
    if record.names == NAMES_CHECKSUM and len(record.values) == len(FEATURE_NAMES):
        features = dict(zip(FEATURE_NAMES, record.values, strict=True))
        return msgspec.structs.replace(record.decision, features=features)
    log.warning(
        "decision record of %s follows other feature names (an earlier release): "
        "re-emitted with this delivery's features",
        current.tx_id,
    )
    return msgspec.structs.replace(record.decision, features=current.features)

"""The names a fraudstream rule can use, and the context the evaluator reads.

One flat namespace, so a rule reads like the decision it encodes::

    transaction fields   amount, country, channel, card_bin, device_id, ip, mcc,
                         payee_id, card_id, merchant_id, ... (``contracts.events.Transaction``)
    features             every name the feature store serves (numbers; NaN = missing),
                         e.g. card_count_10m, card_new_device, ip_cards_1h
    model outputs        score (0..1), cold_start (true when the cold-start model scored)

``rules`` never imports ``feature_store``: the caller passes the feature names
(``feature_store.derive.FEATURE_NAMES``) to ``rule_vocabulary``. A feature that
shares a transaction field's name (``amount``) must have the same type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from contracts.events import Transaction
from rules.expression.types import ValueType, Vocabulary

__all__ = ["MODEL_NAMES", "TRANSACTION_NAMES", "build_context", "rule_vocabulary"]

#: What the models add to a transaction's context.
MODEL_NAMES: dict[str, ValueType] = {"score": ValueType.NUMBER, "cold_start": ValueType.BOOL}
_ENVELOPE = frozenset({"v"})


def _value_type(info: msgspec.inspect.Type) -> tuple[ValueType, str | None]:
    if isinstance(info, msgspec.inspect.UnionType):
        inner = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        return _value_type(inner[0])
    if isinstance(info, msgspec.inspect.StrType):
        return ValueType.STRING, info.pattern
    if isinstance(info, msgspec.inspect.LiteralType):
        return ValueType.STRING, "|".join(str(v) for v in info.values)
    if isinstance(info, msgspec.inspect.BoolType):
        return ValueType.BOOL, None
    if isinstance(info, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        return ValueType.NUMBER, None
    raise TypeError(f"no rule type for a transaction field of type {info}")


def _transaction_names() -> tuple[dict[str, ValueType], dict[str, str]]:
    info = msgspec.inspect.type_info(Transaction)
    if not isinstance(info, msgspec.inspect.StructType):
        raise TypeError("Transaction is expected to be a msgspec Struct")
    types: dict[str, ValueType] = {}
    patterns: dict[str, str] = {}
    for field in info.fields:
        if field.name in _ENVELOPE:
            continue
        kind, pattern = _value_type(field.type)
        types[field.name] = kind
        if pattern is not None:
            patterns[field.name] = pattern.removeprefix("^").removesuffix("$")
    return types, patterns


_TX_TYPES, _TX_PATTERNS = _transaction_names()
#: Transaction fields by name, with their rule types.
TRANSACTION_NAMES: Mapping[str, ValueType] = _TX_TYPES
_TX_FIELDS: tuple[str, ...] = tuple(_TX_TYPES)


def rule_vocabulary(feature_names: Iterable[str]) -> Vocabulary:
    """Transaction fields + the given (numeric) features + ``score`` and ``cold_start``."""
    types: dict[str, ValueType] = dict(TRANSACTION_NAMES)
    for name in feature_names:
        existing = types.get(name)
        if existing is not None and existing is not ValueType.NUMBER:
            raise ValueError(f"feature {name!r} clashes with a {existing.value} transaction field")
        types[name] = ValueType.NUMBER
    types.update(MODEL_NAMES)
    return Vocabulary(types, dict(_TX_PATTERNS))


def build_context(
    tx: Transaction,
    features: Mapping[str, float | None],
    *,
    score: float | None = None,
    cold_start: bool = False,
) -> dict[str, Any]:
    """The flat mapping one transaction is evaluated against."""
    context: dict[str, Any] = {name: getattr(tx, name) for name in _TX_FIELDS}
    context.update(features)
    context["score"] = score
    context["cold_start"] = cold_start
    return context

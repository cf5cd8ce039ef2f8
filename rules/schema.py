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

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from contracts.events import Transaction
from rules.expression.types import ValueType, Vocabulary

__all__ = [
    "MODEL_NAMES",
    "TRANSACTION_NAMES",
    "ContextPlan",
    "build_context",
    "rule_vocabulary",
]

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


def _tuple_getter(
    make: Callable[..., Any], keys: Sequence[Any]
) -> Callable[[Any], tuple[Any, ...]]:
    """``attrgetter``/``itemgetter`` that always returns a tuple (they unwrap a single key)."""
    if not keys:
        return lambda _: ()
    if len(keys) == 1:
        get_one = make(keys[0])
        return lambda obj: (get_one(obj),)
    getter: Callable[[Any], tuple[Any, ...]] = make(*keys)
    return getter


class ContextPlan:
    """``build_context`` cut down to the names a rule set reads, for the scorer's hot path.

    ``build_context`` copies every transaction field and every feature (~80
    entries) per transaction; a rule set reads a few of them (the default one
    ~20). A name no rule reads cannot change an outcome, and every name a rule
    does read gets exactly the value ``build_context`` would give it (a feature
    wins over a transaction field of the same name, then ``score`` and
    ``cold_start``), so outcomes are the same. Features come as a row of values
    in ``feature_names`` order (NaN = missing), so no per-row feature dict is built.
    """

    def __init__(self, names: Iterable[str], feature_names: Sequence[str]) -> None:
        wanted = frozenset(names)
        # The last position of a name wins, as in dict(zip(feature_names, values)).
        position = {name: i for i, name in enumerate(feature_names)}
        features = [(name, i) for name, i in position.items() if name in wanted]
        fields = [n for n in _TX_FIELDS if n in wanted and n not in position]
        model = [n for n in MODEL_NAMES if n in wanted]
        self.names: tuple[str, ...] = (*fields, *(n for n, _ in features), *model)
        self._template: dict[str, Any] = dict.fromkeys(self.names)
        self._fields = _tuple_getter(operator.attrgetter, fields)
        self._features = _tuple_getter(operator.itemgetter, [i for _, i in features])
        self._score = "score" in wanted
        self._cold_start = "cold_start" in wanted

    def build(
        self,
        tx: Transaction,
        values: Sequence[float],
        *,
        score: float | None = None,
        cold_start: bool = False,
    ) -> dict[str, Any]:
        """The context of one transaction (``values`` in ``feature_names`` order)."""
        return self.build_batch([tx], [values], [score], [cold_start])[0]

    def build_batch(
        self,
        transactions: Sequence[Transaction],
        values: Sequence[Sequence[float]],
        scores: Sequence[float | None],
        cold_start: Sequence[bool],
    ) -> list[dict[str, Any]]:
        """One context per transaction; the sequences are parallel."""
        get_fields, get_features = self._fields, self._features
        if self._score and self._cold_start:
            model_values: Iterable[tuple[Any, ...]] = zip(scores, cold_start, strict=True)
        elif self._score:
            model_values = ((s,) for s in scores)
        elif self._cold_start:
            model_values = ((c,) for c in cold_start)
        else:
            model_values = (() for _ in transactions)
        # Copies of a dict with every key in place, then updated: no table growth per row.
        copy, names = self._template.copy, self.names
        contexts = [copy() for _ in transactions]
        for context, tx, row, model in zip(
            contexts, transactions, values, model_values, strict=True
        ):
            context.update(zip(names, get_fields(tx) + get_features(row) + model, strict=True))
        return contexts

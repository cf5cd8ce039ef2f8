"""What a named list holds, and its members in the one spelling a transaction carries.

A list's kind comes from the rules that use it, so a rule file declares
nothing twice: a list that a rule checks the transaction's ``ip`` against
(``ip in list('blocked_ips')``, ``not in`` too) is an **IP list**, one checked
against ``country`` is a **country list**, and every other list is **text**,
compared exactly as written (BINs, device ids, card ids).

* IP list members are kept as ``ipaddress.ip_address(m).compressed``
  (``2001:DB8:0::1`` -> ``2001:db8::1``); text that is not an IP address is
  refused. ``IpAddresses`` normalises the transaction's ``ip`` the same way at
  the membership check, so every spelling of a listed address matches.
* Country list members are ISO 3166 alpha-2 codes, upper-cased (``ru`` ->
  ``RU``); anything else (``RUS``, ``Russia``) is refused: a transaction's
  ``country`` always matches ``^[A-Z]{2}$``.
* A list checked against both ``ip`` and ``country`` is refused: no member
  could match both.

A member that is refused could never match, so accepting it would only make
an operator believe something is blocked that is not. Normalised are a rule
file's default members (``RuleSet``, at load) and members written with
``fraudstream rules lists add/remove``; members already in the store are used
as stored (re-normalising a large IP list at every change would stall the
scorer: about 17 us per IPv6 address).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from collections.abc import Iterable, Iterator
from enum import StrEnum

from rules.expression import parse
from rules.expression.syntax import Membership, Name, NamedList, Node

__all__ = [
    "IpAddresses",
    "ListKind",
    "list_kinds",
    "normalise_members",
    "normalised_member",
]


class ListKind(StrEnum):
    TEXT = "text"
    IP = "ip"
    COUNTRY = "country"


#: The transaction field a list is checked against -> the kind of the list.
_FIELD_KINDS = {"ip": ListKind.IP, "country": ListKind.COUNTRY}
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")
#: What the refusal of a member says the list holds, per kind.
_HOLDS = {
    ListKind.IP: "IP addresses (a rule checks `ip` against it)",
    ListKind.COUNTRY: (
        "two-letter ISO country codes such as 'RU' (a rule checks `country` against it)"
    ),
}


# -- kinds from the rules -------------------------------------------------------------


def list_kinds(conditions: Iterable[tuple[str, str]]) -> dict[str, ListKind]:
    """The IP and country lists among the ``(rule id, when)`` conditions; others are text.

    Raises ``ValueError`` for a list checked against both ``ip`` and ``country``.
    """
    found: dict[str, tuple[ListKind, str]] = {}
    for rule_id, when in conditions:
        for field, list_name in _fields_checked_against_lists(parse(when)):
            kind = _FIELD_KINDS.get(field)
            if kind is None:
                continue
            first_kind, first_rule = found.setdefault(list_name, (kind, rule_id))
            if first_kind is not kind:
                raise ValueError(
                    f"list {list_name!r} is checked against `{field}` in rule {rule_id!r} "
                    f"and holds {first_kind} values for rule {first_rule!r}: "
                    "use one list per kind of value"
                )
    return {name: kind for name, (kind, _) in found.items()}


def _fields_checked_against_lists(node: Node) -> Iterator[tuple[str, str]]:
    """``(field, list name)`` for every ``field [not] in list('name')`` in the tree."""
    if isinstance(node, Membership) and isinstance(node.container, NamedList):
        if isinstance(node.item, Name):
            yield node.item.name, node.container.name
    for child in _children(node):
        yield from _fields_checked_against_lists(child)


def _children(node: Node) -> Iterator[Node]:
    # Generic over the node dataclasses, so a new kind of node is walked too.
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        for item in value if isinstance(value, tuple) else (value,):
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                yield item  # type: ignore[misc]


# -- members ----------------------------------------------------------------------------


def normalise_members(kind: ListKind, list_name: str, members: Iterable[str]) -> list[str]:
    """``members`` in their stored spelling; ``ValueError`` naming the list and every bad one."""
    members = list(members)
    normalised = [normalised_member(kind, member) for member in members]
    bad = [member for member, value in zip(members, normalised, strict=True) if value is None]
    if bad:
        raise ValueError(
            f"list {list_name!r} holds {_HOLDS[kind]}; not one: {', '.join(map(repr, bad))}"
        )
    return [value for value in normalised if value is not None]


def normalised_member(kind: ListKind, member: str) -> str | None:
    """The member's stored spelling, or None if a transaction's value can never equal it."""
    if kind is ListKind.IP:
        return _canonical_ip(member)
    if kind is ListKind.COUNTRY:
        code = member.upper()
        # isascii: "ß".upper() is "SS".
        return code if member.isascii() and _COUNTRY_CODE.fullmatch(code) else None
    return member


@functools.lru_cache(maxsize=4096)
def _canonical_ip(text: str) -> str | None:
    # Cached: a client's address comes back with each of its payments.
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None


class IpAddresses(frozenset[str]):
    """An IP list's members (canonical); ``in`` also finds any other spelling of one."""

    __slots__ = ()

    def __contains__(self, value: object) -> bool:
        if frozenset.__contains__(self, value):
            return True
        # A dotted quad has one spelling (``ipaddress``, and so the transaction
        # contract, refuses leading zeros): only IPv6 text can spell a member
        # differently, so only that is parsed (the common IPv4 miss stays cheap).
        if not isinstance(value, str) or ":" not in value:
            return False
        canonical = _canonical_ip(value)
        return canonical is not None and frozenset.__contains__(self, canonical)

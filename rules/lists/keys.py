"""The Redis key layout of the named lists, in one place.

All keys share the hash tag ``{lists}``, so one MULTI can read every list and
the version together, also on Redis Cluster (one slot)::

    fs1:{lists}:version                a counter, INCR on every change (the reload signal)
    fs1:{lists}:names                  a set: the names of every list ever written
    fs1:{lists}:set:blocked_countries  a set: the members of one list

``fs1`` is ``RedisSettings.key_prefix`` (it carries the layout version).
"""

from __future__ import annotations

__all__ = ["list_key", "names_key", "version_key"]


def version_key(prefix: str) -> str:
    return f"{prefix}:{{lists}}:version"


def names_key(prefix: str) -> str:
    return f"{prefix}:{{lists}}:names"


def list_key(prefix: str, name: str) -> str:
    return f"{prefix}:{{lists}}:set:{name}"

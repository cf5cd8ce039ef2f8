"""The in-memory twin of ``lua/apply_batch.lua``: same plan, same semantics, dicts.

Used for offline training frames (replaying history point-in-time) and unit
tests. It ignores key expiry: replayed history has no wall clock, and every
window already bounds itself by event time. Keep it line-for-line faithful to
the Lua script; the parity tests compare the two on the same stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from feature_store.definitions import DistinctSet, Window
from feature_store.online.base import Ready, Reply
from feature_store.plan import Arg, CompiledPlan, OpSpec, PlannedItem

__all__ = ["MemoryOnlineStore"]


class MemoryOnlineStore:
    """Feature state in Python dicts."""

    def __init__(self, key_prefix: str = "fs1") -> None:
        self.key_prefix = key_prefix
        self._hashes: dict[str, dict[str, int | str]] = {}
        self._zsets: dict[str, dict[str, int]] = {}
        # Occupied buckets per window key (the Lua script keeps them in field "o").
        self._occupied: dict[str, set[int]] = {}
        self._dedup: dict[str, Reply] = {}
        # Label dedup keys -> (counted at, known at): the Lua record's "<ms>:<ms>:" prefix.
        self._verdict_times: dict[str, tuple[int, int]] = {}

    def close(self) -> None:
        return None

    def apply(self, plan: CompiledPlan, items: Sequence[PlannedItem]) -> list[Reply]:
        return [self._apply_one(plan, item) for item in items]

    def submit(self, plan: CompiledPlan, items: Sequence[PlannedItem]) -> Ready:
        return Ready(self.apply(plan, items))

    def _apply_one(self, plan: CompiledPlan, item: PlannedItem) -> Reply:
        stored = self._dedup.get(item.keys[0])
        if stored is not None:
            return [1, *stored[1:]]
        reply: Reply = [0]
        t, value, dcount, hour = (int(x) for x in item.args[:4])
        lat, lon = str(item.args[4]), str(item.args[5])
        k = 1
        if plan.verdicts:
            k = 2
            other, known_at = item.keys[1], t
            if other in self._dedup:
                counted_at, other_known = self._verdict_times[other]
                if known_at <= other_known:
                    # Not newer than the verdict in force: an out-of-order redelivery.
                    return [1, *self._dedup[other][1:]]
                # A changed verdict corrects the label counted, where it was counted.
                del self._dedup[other]
                del self._verdict_times[other]
                t, dcount, value = counted_at, 0, 2 * value - 1
            self._verdict_times[item.keys[0]] = (t, known_at)
        for group in plan.groups:
            hash_key = item.keys[k]
            set_keys = item.keys[k + 1 : k + 1 + len(group.set_ops)]
            k += 1 + len(group.set_ops)
            for op in group.record_ops:
                # Each state of the entity record is kept under its own dict key here.
                key = f"{hash_key}|{op.tag}"
                if hash_key == "":
                    _zeros(op, reply)
                elif op.kind == "W":
                    self._window_update(key, op, t, value, dcount, reply)
                elif op.kind == "R":
                    self._window_read_at(key, op, t, reply)
                elif op.kind == "S":
                    member = str(item.args[plan.member_offset + op.member])
                    if member == "":
                        _zeros(op, reply)
                    else:
                        self._distinct(key, op, t, member, reply)
                elif op.kind == "L":
                    self._last_event(key, t, lat, lon, reply)
                else:
                    self._hour_profile(key, hour, reply)
            for op, set_key in zip(group.set_ops, set_keys, strict=True):
                member = str(item.args[plan.member_offset + op.member])
                if hash_key == "" or set_key == "" or member == "":
                    _zeros(op, reply)
                else:
                    self._distinct(set_key, op, t, member, reply)
        self._dedup[item.keys[0]] = reply
        return list(reply)

    # Windows ---------------------------------------------------------------
    def _window_update(
        self, key: str, op: OpSpec, t: int, value: int, dcount: int, out: Reply
    ) -> None:
        w = cast(Window, op.state)
        b = t // w.bucket_ms
        if dcount == 0:
            # A correction whose bucket is no longer kept moves nothing (as in Lua).
            kept = self._hashes.get(key)
            if kept is None or "h" not in kept:
                _zeros(op, out)
                return
            if not int(kept["h"]) - w.longest < b < int(kept["h"]) + w.longest:
                self._window_read_into(kept, w, int(kept["h"]), out)
                return
        h_map = self._hashes.setdefault(key, {})
        head = h_map.get("h")
        if head is None:
            h = b
        elif b > int(head):
            h = int(head)
            self._window_advance(key, w, h, b)
            h_map = self._hashes.setdefault(key, {})
            h = b
        else:
            h = int(head)
        h_map["h"] = h
        if b > h - w.longest:
            self._occupied.setdefault(key, set()).add(b)
            h_map[f"c{b}"] = _int(h_map.get(f"c{b}")) + dcount
            h_map[f"s{b}"] = _int(h_map.get(f"s{b}")) + value
            if w.with_max:
                m = h_map.get(f"m{b}")
                if m is None or value > int(m):
                    h_map[f"m{b}"] = value
            for n in w.windows:
                if b > h - n:
                    h_map[f"C{n}"] = _int(h_map.get(f"C{n}")) + dcount
                    h_map[f"S{n}"] = _int(h_map.get(f"S{n}")) + value
        self._window_read_into(h_map, w, h, out)

    def _window_advance(self, key: str, w: Window, h: int, b: int) -> None:
        if b - h >= w.longest:
            del self._hashes[key]
            self._occupied.pop(key, None)
            return
        h_map = self._hashes[key]
        occ = self._occupied.setdefault(key, set())
        for n in w.windows:
            if b - h >= n:
                h_map[f"C{n}"] = 0
                h_map[f"S{n}"] = 0
            else:
                cnt, total = self._bucket_sums(h_map, occ, h - n, b - n)
                h_map[f"C{n}"] = _int(h_map.get(f"C{n}")) - cnt
                h_map[f"S{n}"] = _int(h_map.get(f"S{n}")) - total
        for k in [k for k in occ if k <= b - w.longest]:
            occ.discard(k)
            for f in (f"c{k}", f"s{k}", f"m{k}"):
                h_map.pop(f, None)

    @staticmethod
    def _bucket_sums(
        h_map: dict[str, int | str], occ: set[int], low: int, high: int
    ) -> tuple[int, int]:
        inside = [k for k in occ if low < k <= high]
        return (
            sum(_int(h_map.get(f"c{k}")) for k in inside),
            sum(_int(h_map.get(f"s{k}")) for k in inside),
        )

    @staticmethod
    def _window_read_into(h_map: dict[str, int | str], w: Window, h: int, out: Reply) -> None:
        for n in w.windows:
            out.append(_int(h_map.get(f"C{n}")))
            out.append(_int(h_map.get(f"S{n}")))
        if w.with_max:
            best = 0
            for k in range(h - w.longest + 1, h + 1):
                m = h_map.get(f"m{k}")
                if m is not None and int(m) > best:
                    best = int(m)
            out.append(best)

    def _window_read_at(self, key: str, op: OpSpec, t: int, out: Reply) -> None:
        w = cast(Window, op.state)
        h_map = self._hashes.get(key)
        if h_map is None or "h" not in h_map:
            _zeros(op, out)
            return
        h = int(h_map["h"])
        b = t // w.bucket_ms
        for n in w.windows:
            if b > h and b - h >= n:
                out += [0, 0]
                continue
            occ = self._occupied.get(key, set())
            if b < h:
                # Older than the head: its own window, from the buckets.
                out += list(self._bucket_sums(h_map, occ, max(b - n, h - w.longest), b))
                continue
            cnt, total = _int(h_map.get(f"C{n}")), _int(h_map.get(f"S{n}"))
            if b > h:
                gone_c, gone_s = self._bucket_sums(h_map, occ, h - n, b - n)
                cnt, total = cnt - gone_c, total - gone_s
            out += [cnt, total]

    # Distinct sets ---------------------------------------------------------
    def _distinct(self, key: str, op: OpSpec, t: int, member: str, out: Reply) -> None:
        d = cast(DistinctSet, op.state)
        zset = self._zsets.setdefault(key, {})
        previous = zset.get(member)
        added = 0
        if previous is None:
            zset[member] = t
            added = 1
        elif t > previous:
            zset[member] = t
        if len(zset) > d.cap:
            # Redis orders equal scores by member bytes; evict the lowest ranks.
            ranked = sorted(zset.items(), key=lambda kv: (kv[1], kv[0].encode()))
            for name, _ in ranked[: len(zset) - d.cap]:
                del zset[name]
        out.append(added)
        for window in d.windows_ms:
            low = t - window
            out.append(sum(1 for seen in zset.values() if seen > low))

    # Profiles --------------------------------------------------------------
    def _last_event(self, key: str, t: int, lat: str, lon: str, out: Reply) -> None:
        h_map = self._hashes.setdefault(key, {})
        pt, gt, f = h_map.get("t"), h_map.get("gt"), h_map.get("f")
        n = _int(h_map.get("n"))
        out += [
            -1 if pt is None else int(pt),
            -1 if gt is None else int(gt),
            str(h_map.get("lat", "")),
            str(h_map.get("lon", "")),
            -1 if f is None else int(f),
            n,
        ]
        h_map["n"] = n + 1
        if pt is None or t >= int(pt):
            h_map["t"] = t
        if lat != "" and (gt is None or t >= int(gt)):
            h_map["gt"], h_map["lat"], h_map["lon"] = t, lat, lon
        if f is None or t < int(f):
            h_map["f"] = t

    def _hour_profile(self, key: str, hour: int, out: Reply) -> None:
        h_map = self._hashes.setdefault(key, {})
        near = sum(_int(h_map.get(str(x % 24))) for x in (hour + 23, hour, hour + 1))
        out += [near, _int(h_map.get("n"))]
        h_map[str(hour)] = _int(h_map.get(str(hour))) + 1
        h_map["n"] = _int(h_map.get("n")) + 1


def _int(value: int | str | None) -> int:
    return 0 if value is None else int(value)


def _zeros(op: OpSpec, out: Reply) -> None:
    if op.kind == "L":
        out += [-1, -1, "", "", -1, 0]
    else:
        zero: list[Arg] = [0] * op.width
        out += zero

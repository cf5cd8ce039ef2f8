-- Apply a micro-batch of transactions (or labels) to the feature state and read
-- every state back, atomically, in one round trip.
--
-- ARGV[1]  plan (JSON, feature_store/plan.py): {"groups": [...], "dedup_ttl", "nargs", "nkeys"}
-- ARGV[2]  number of items in the batch
-- ARGV[3]  every item's arguments as one MessagePack array (one argument, not
--          thousands: both redis-py and Redis pay per argument). Per item: t,
--          value, dcount, hour, lat, lon, the lower bound "(t-w" per sorted-set
--          window, and one member per distinct-set attribute (positions in the
--          plan: wi, m; "" = absent).
-- KEYS     per item: the dedup key, then (label plan: "verdicts") the dedup key
--          of the transaction's other verdict, then per group the entity key and
--          one key per sorted set ("" = entity absent).
--
-- The reply is one string per item: a byte "0" or "1" (dup) and the item's
-- values as a MessagePack array. dup = 1 when the dedup key already existed:
-- the values stored at the first delivery are returned and nothing changes, so
-- a redelivered transaction reads the same vector and counts once. A label's
-- dedup record is "<ms counted at>:<ms known at>:<reply>"; a label whose
-- transaction's other verdict was counted, and became known later than it,
-- corrects that one instead of counting a second (one known no later is an
-- out-of-order redelivery and changes nothing). Numbers are
-- integer cents / counts / epoch ms; coordinates are the exact strings Python sent.
--
-- Layout (online/keys.py): each entity is ONE string key holding a MessagePack
-- map, state tag -> that state's numbers, read with one GET and written with
-- one SET (with its expiry) per call, however many items of the batch touch
-- it. Why not a hash with a field per number: in
-- Redis' Lua every field name is a string to build and every number a
-- tonumber/tostring, which cost as much as the arithmetic itself (measured:
-- 107 us per transaction with a hash per entity); cmsgpack decodes and encodes
-- a whole entity in C, and the arithmetic runs on plain Lua arrays.
--
-- A window's state is the array
--   {h, hc, hs, hm, older, M, C1, S1, C2, S2, ...}
-- h the head bucket (epoch ms // bucket of the newest event), hc/hs/hm the
-- count, cent sum and cent max of the head bucket, M the max over the retained
-- buckets, Cn/Sn the running count and sum of each window; `older` is the
-- other occupied buckets, ascending, as a MessagePack string of a flat array
-- {b, c, s, m, b, c, s, m, ...}. It stays packed unless the head moves or a
-- late event arrives, so a busy merchant (288 five-minute buckets) costs its
-- few head numbers per transaction, not its whole day.
--
-- This file and feature_store/online/memory.py implement the same semantics;
-- the parity tests hold them together. Change both or neither.

local plan = cjson.decode(ARGV[1])
local groups = plan.groups
local NARGS, NKEYS = plan.nargs, plan.nkeys
-- The label plan: each item's second key is its transaction's other verdict.
local VERDICTS = plan.verdicts == 1
local floor = math.floor
local pack, unpack_mp = cmsgpack.pack, cmsgpack.unpack
-- Globals are table lookups on every use; these are read per item.
local call, KEYS = redis.call, KEYS

-- Expiries as text once per call: Redis formats a number argument (printf)
-- on every command that gets one.
local DEDUP_PX = tostring(plan.dedup_ttl)
for _, g in ipairs(groups) do
  g.px = tostring(g.ttl + g.slack)
  for _, op in ipairs(g.hs) do
    if op.k == 'W' or op.k == 'R' then op.nw = #op.ns end
  end
  for i, z in ipairs(g.zs) do z.fx = '~' .. i; z.px = tostring(z.ttl + z.slack) end
end

-- The reply of the item being applied and its length. Appends go through the
-- counter: Lua 5.1's length operator searches the table on every use.
local res, rn = {}, 0

-- Hot loops are numeric `for`s: ipairs calls its iterator function per step.

-- Windows --------------------------------------------------------------------
local function window_new(op, b)
  local ws = {b, 0, 0, 0, '', 0}
  for i = 7, 6 + 2 * op.nw do ws[i] = 0 end
  return ws
end

local function older_buckets(ws)
  if ws[5] == '' then return {} end
  return unpack_mp(ws[5])
end

local function store_older(ws, older)
  if #older == 0 then ws[5] = '' else ws[5] = pack(older) end
end

-- Count and sum of the older buckets k with lo < k <= hi. The list ascends and
-- the range asked for is near its newest end (the buckets that leave a short
-- window as the head moves), so the scan starts there: a merchant with 288
-- occupied buckets costs the dozen of its last hour, not all 288.
local function bucket_sums(older, lo, hi)
  local c, s = 0, 0
  for x = #older - 3, 1, -4 do
    local k = older[x]
    if k <= lo then break end
    if k <= hi then c = c + older[x + 1]; s = s + older[x + 2] end
  end
  return c, s
end

-- Move the head from h to b (h < b < h + N):
-- * the old head joins the older buckets (it is the newest of them);
-- * a shorter window of n buckets loses the buckets (h-n, b-n], or all when b-h >= n;
-- * the longest window loses the buckets <= b-N, a prefix of the ascending
--   list, which are also dropped;
-- * the max is recomputed only when a dropped bucket held it.
local function advance(ws, op, b)
  local h, N, ns, nw = ws[1], op.N, op.ns, op.nw
  local k = b - h
  local older = older_buckets(ws)
  if ws[2] ~= 0 or ws[3] ~= 0 then
    local n = #older
    older[n + 1] = h; older[n + 2] = ws[2]; older[n + 3] = ws[3]; older[n + 4] = ws[4]
  end
  for w = 1, nw - 1 do
    local n = ns[w]
    if k >= n then
      ws[5 + 2 * w] = 0; ws[6 + 2 * w] = 0
    else
      local c, s = bucket_sums(older, h - n, b - n)
      ws[5 + 2 * w] = ws[5 + 2 * w] - c; ws[6 + 2 * w] = ws[6 + 2 * w] - s
    end
  end
  local limit, x, size = b - N, 1, #older
  local gc, gs, gmax = 0, 0, 0
  while x <= size and older[x] <= limit do
    gc = gc + older[x + 1]; gs = gs + older[x + 2]
    if older[x + 3] > gmax then gmax = older[x + 3] end
    x = x + 4
  end
  if x > 1 then
    ws[5 + 2 * nw] = ws[5 + 2 * nw] - gc; ws[6 + 2 * nw] = ws[6 + 2 * nw] - gs
    -- Shift the kept buckets down in place (no new table, no length searches).
    local j = 0
    for y = x, size do j = j + 1; older[j] = older[y] end
    for y = j + 1, size do older[y] = nil end
    if op.mx == 1 and gmax >= ws[6] then
      local M = 0
      for y = 4, #older, 4 do if older[y] > M then M = older[y] end end
      ws[6] = M
    end
  end
  store_older(ws, older)
  ws[1] = b; ws[2] = 0; ws[3] = 0; ws[4] = 0
end

-- A late event (h - N < b < h): its bucket is updated or inserted in place.
local function count_late(ws, b, value, dcount)
  local older = older_buckets(ws)
  local x, size = 1, #older
  while x <= size and older[x] < b do x = x + 4 end
  if x <= size and older[x] == b then
    older[x + 1] = older[x + 1] + dcount; older[x + 2] = older[x + 2] + value
    if value > older[x + 3] then older[x + 3] = value end
  else
    table.insert(older, x, value); table.insert(older, x, value)
    table.insert(older, x, dcount); table.insert(older, x, b)
  end
  store_older(ws, older)
end

local function window_zeros(op)
  for _ = 1, 2 * #op.ns do rn = rn + 1; res[rn] = 0 end
  if op.mx == 1 then rn = rn + 1; res[rn] = 0 end
end

local function window_update(ws, op, t, value, dcount)
  local b = floor(t / op.B)
  local N, ns, nw = op.N, op.ns, op.nw
  if dcount == 0 and (ws == nil or b <= ws[1] - N or b - ws[1] >= N) then
    -- A correction (a label's verdict changed) whose bucket is no longer kept:
    -- the label it corrects counts nowhere any more, so nothing moves.
    if ws == nil then window_zeros(op); return ws end
    for i = 7, 6 + 2 * nw do rn = rn + 1; res[rn] = ws[i] end
    if op.mx == 1 then rn = rn + 1; res[rn] = ws[6] end
    return ws
  end
  if ws == nil or b - ws[1] >= N then
    -- New state, or everything retained has left the longest window: start over.
    ws = window_new(op, b)
  elseif b > ws[1] then
    advance(ws, op, b)
  end
  local h = ws[1]
  if b > h - N then
    -- Inside the retained range: count it (a late event counts in every
    -- window, ending at the head, that still covers its bucket).
    if b == h then
      ws[2] = ws[2] + dcount; ws[3] = ws[3] + value
      if value > ws[4] then ws[4] = value end
    else
      count_late(ws, b, value, dcount)
    end
    if op.mx == 1 and value > ws[6] then ws[6] = value end
    for w = 1, nw do
      if b > h - ns[w] then
        ws[5 + 2 * w] = ws[5 + 2 * w] + dcount; ws[6 + 2 * w] = ws[6 + 2 * w] + value
      end
    end
  end
  for i = 7, 6 + 2 * nw do rn = rn + 1; res[rn] = ws[i] end
  if op.mx == 1 then rn = rn + 1; res[rn] = ws[6] end
  return ws
end

-- Read-only: the windows as they stood at time t, to the bucket (labels known
-- by the end of t's bucket count).
local function window_read_at(ws, op, t)
  if ws == nil then window_zeros(op); return end
  local b = floor(t / op.B)
  local h = ws[1]
  local older = nil
  for w = 1, #op.ns do local n = op.ns[w]
    local c, s = ws[5 + 2 * w], ws[6 + 2 * w]
    if b > h and b - h >= n then
      c, s = 0, 0
    elseif b < h then
      -- Older than the head: its own window from the buckets, so labels that
      -- became known after it (in later buckets) do not count.
      older = older or older_buckets(ws)
      c, s = bucket_sums(older, math.max(b - n, h - op.N), b)
    elseif b > h then
      older = older or older_buckets(ws)
      local gc, gs = bucket_sums(older, h - n, b - n)
      c = c - gc; s = s - gs
    end
    rn = rn + 1; res[rn] = c; rn = rn + 1; res[rn] = s
  end
end

-- Last event and hour profile ---------------------------------------------
-- {previous time, previous located time, its lat, its lon, first seen, count}
-- (-1 / '' when unknown): exactly the values the reply carries.
local function last_event(ls, t, lat, lon)
  if ls == nil then ls = {-1, -1, '', '', -1, 0} end
  for i = 1, 6 do rn = rn + 1; res[rn] = ls[i] end
  ls[6] = ls[6] + 1
  if ls[1] == -1 or t >= ls[1] then ls[1] = t end
  if lat ~= '' and (ls[2] == -1 or t >= ls[2]) then ls[2] = t; ls[3] = lat; ls[4] = lon end
  if ls[5] == -1 or t < ls[5] then ls[5] = t end
  return ls
end

-- 24 counts (hour h at index h + 1) and the total at 25: the events in the
-- neighbouring hours and in total, before this one.
local function hour_profile(hp, hour)
  if hp == nil then
    hp = {}
    for i = 1, 25 do hp[i] = 0 end
  end
  local i = hour + 1
  rn = rn + 1; res[rn] = hp[(hour + 23) % 24 + 1] + hp[i] + hp[(hour + 1) % 24 + 1]
  rn = rn + 1; res[rn] = hp[25]
  hp[i] = hp[i] + 1; hp[25] = hp[25] + 1
  return hp
end

-- Distinct sets ---------------------------------------------------------------
-- Bytewise order of two strings (Lua's < follows the locale's collation;
-- sorted sets order equal scores by memcmp).
local function bytes_less(x, y)
  for i = 1, math.min(#x, #y) do
    local p, q = string.byte(x, i), string.byte(y, i)
    if p ~= q then return p < q end
  end
  return #x < #y
end

-- A small set inside the record: {member, last seen, member, last seen, ...}.
-- Same semantics as a sorted set under ZADD GT with the lowest (time, member)
-- evicted above the cap: a member evicted and seen again reads as new.
local function record_set(ds, op, t, member)
  if ds == nil then ds = {} end
  local size, found = #ds, nil
  for x = 1, size, 2 do
    if ds[x] == member then found = x; break end
  end
  local added = 0
  if found then
    if t > ds[found + 1] then ds[found + 1] = t end
  else
    added = 1
    ds[size + 1] = member; ds[size + 2] = t
    size = size + 2
    if size > 2 * op.cap then
      local low = 1
      for x = 3, size, 2 do
        local tx, tl = ds[x + 1], ds[low + 1]
        if tx < tl or (tx == tl and bytes_less(ds[x], ds[low])) then low = x end
      end
      table.remove(ds, low); table.remove(ds, low)
    end
  end
  rn = rn + 1; res[rn] = added
  for wx = 1, #op.ws do local w = op.ws[wx]
    local lo, n = t - w, 0
    for x = 2, #ds, 2 do if ds[x] > lo then n = n + 1 end end
    rn = rn + 1; res[rn] = n
  end
  return ds
end

-- A large distinct set: a sorted set member -> last time seen, capped at z.cap.
-- Returns true when its expiry was pushed back.
local function distinct(key, z, t, A, a, member, marked)
  local added = call('ZADD', key, 'GT', t, member)
  local size = 0
  if added == 1 then
    size = call('ZCARD', key)
    if size > z.cap then call('ZREMRANGEBYRANK', key, 0, size - z.cap - 1) end
  end
  rn = rn + 1; res[rn] = added
  for wj = 1, #z.wi do local wi = z.wi[wj]
    rn = rn + 1; res[rn] = call('ZCOUNT', key, A[a + wi - 1], '+inf')
  end
  -- A new key (its first member) needs an expiry at once; otherwise push the
  -- expiry back every 1/16 of it, with that much slack on top.
  if size == 1 or marked == nil or t - marked >= z.slack then
    call('PEXPIRE', key, z.px)
    return true
  end
  return false
end

local function group_zeros(g)
  for oi = 1, #g.hs do local op = g.hs[oi]
    if op.k == 'L' then
      rn = rn + 1; res[rn] = -1; rn = rn + 1; res[rn] = -1; rn = rn + 1; res[rn] = ''; rn = rn + 1; res[rn] = ''
      rn = rn + 1; res[rn] = -1; rn = rn + 1; res[rn] = 0
    elseif op.k == 'H' then
      rn = rn + 1; res[rn] = 0; rn = rn + 1; res[rn] = 0
    elseif op.k == 'S' then
      for _ = 0, #op.ws do rn = rn + 1; res[rn] = 0 end
    else
      window_zeros(op)
    end
  end
  for zi = 1, #g.zs do local z = g.zs[zi]
    for _ = 0, #z.wi do rn = rn + 1; res[rn] = 0 end
  end
end

-- The records this call read, unpacked, by key, and the order they were first
-- read in: an entity that several items of the batch touch (a busy merchant,
-- a shared IP) is read and unpacked once, and packed and written once at the
-- end. Nothing else sees the keys before the script ends, so this is the same
-- as writing after every item.
local records, touched, expiry = {}, {}, {}

-- One entity of one item: its record (read once per call), the states in order.
local function run_group(g, ekey, k0, A, a, t, value, dcount, hour, lat, lon)
  local e = records[ekey]
  if e == nil then
    local raw = call('GET', ekey)
    e = raw and unpack_mp(raw) or {}
    records[ekey] = e
    touched[#touched + 1] = ekey
    expiry[ekey] = g.px
  end
  local hs, zs = g.hs, g.zs
  for oi = 1, #hs do local op = hs[oi]
    local tag, kind = op.t, op.k
    if kind == 'W' then
      e[tag] = window_update(e[tag], op, t, value, dcount)
    elseif kind == 'R' then
      window_read_at(e[tag], op, t)
    elseif kind == 'S' then
      local member = A[a + op.m - 1]
      if member == '' then
        for _ = 0, #op.ws do rn = rn + 1; res[rn] = 0 end
      else
        e[tag] = record_set(e[tag], op, t, member)
      end
    elseif kind == 'L' then
      e[tag] = last_event(e[tag], t, lat, lon)
    else
      e[tag] = hour_profile(e[tag], hour)
    end
  end
  for zi = 1, #zs do local z = zs[zi]
    local zkey, member = KEYS[k0 + zi], A[a + z.m - 1]
    if zkey == '' or member == '' then
      for _ = 0, #z.wi do rn = rn + 1; res[rn] = 0 end
    elseif distinct(zkey, z, t, A, a, member, e[z.fx]) then
      e[z.fx] = t
    end
  end
end

-- A label's dedup record: "<ms counted at>:<ms known at>:<reply>".
local function verdict_times(record)
  local first = string.find(record, ':', 1, true)
  local second = string.find(record, ':', first + 1, true)
  return tonumber(string.sub(record, 1, first - 1)), tonumber(string.sub(record, first + 1, second - 1))
end

local function verdict_reply(record)
  local first = string.find(record, ':', 1, true)
  return string.sub(record, string.find(record, ':', first + 1, true) + 1)
end

local items = tonumber(ARGV[2])
local A = unpack_mp(ARGV[3])
local lines = {}
for it = 0, items - 1 do
  local kb = it * NKEYS
  local a = 1 + it * NARGS
  local dedup_key = KEYS[kb + 1]
  local stored = call('GET', dedup_key)
  local t, value, dcount, hour, lat, lon = A[a], A[a + 1], A[a + 2], A[a + 3], A[a + 4], A[a + 5]
  local k, counted_at, known_at = kb + 2, t, t
  if stored then
    if VERDICTS then stored = verdict_reply(stored) end
  elseif VERDICTS then
    k = kb + 3
    local other = call('GET', KEYS[kb + 2])
    if other then
      local other_counted, other_known = verdict_times(other)
      if known_at <= other_known then
        -- Not newer than the verdict in force (a label redelivered out of order,
        -- after the one that replaced it): changes nothing.
        stored = verdict_reply(other)
      else
        -- The verdict changed (an analyst's "legitimate", then a chargeback): still
        -- one label, counted when the first became known; only its fraud count
        -- moves, in that same bucket, so both leave the windows together.
        counted_at = other_counted
        call('DEL', KEYS[kb + 2])
        t, dcount, value = counted_at, 0, 2 * value - 1
      end
    end
  end
  if stored then
    lines[it + 1] = '1' .. stored
  else
    res, rn = {}, 0
    for gi = 1, #groups do local g = groups[gi]
      local ekey = KEYS[k]
      if ekey == '' then
        group_zeros(g)
      else
        run_group(g, ekey, k, A, a, t, value, dcount, hour, lat, lon)
      end
      k = k + 1 + #g.zs
    end
    local packed = pack(res)
    if VERDICTS then
      local times = string.format('%d:%d:', counted_at, known_at)
      call('SET', dedup_key, times .. packed, 'PX', DEDUP_PX)
    else
      call('SET', dedup_key, packed, 'PX', DEDUP_PX)
    end
    lines[it + 1] = '0' .. packed
  end
end
for ti = 1, #touched do local ekey = touched[ti]
  call('SET', ekey, pack(records[ekey]), 'PX', expiry[ekey])
end
return lines

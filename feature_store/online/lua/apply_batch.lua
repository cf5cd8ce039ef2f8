-- Apply a micro-batch of transactions (or labels) to the feature state and read
-- every state back, atomically, in one round trip.
--
-- ARGV[1]  plan (JSON): {"ops": [...], "dedup_ttl": ms, "mode": "tx"|"label"}
-- ARGV[2]  number of items in the batch
-- then, per item, the concatenated arguments of its ops (see ARGS_PER_OP).
-- KEYS     per item: the dedup key, then one key per op ("" = entity absent).
--
-- Per item the reply is {dup, <op outputs...>}. dup = 1 when the dedup key
-- already existed: the stored reply of the first delivery is returned and
-- nothing changes, so a redelivered transaction reads the same vector and
-- counts once. Numbers are integer cents / counts / epoch ms; coordinates are
-- passed and returned as the exact strings Python sent.
--
-- This file and feature_store/online/memory.py implement the same semantics;
-- the parity tests hold them together. Change both or neither.

local ARGS_PER_OP = {W = 3, R = 1, D = 2, L = 3, H = 1}

-- Numbers are handed to Redis as they are: integers below 1e14 (cents, counts,
-- epoch ms) print exactly with Lua's %.14g, so no string.format on the hot path.

-- Windows: count/sum per window of buckets, running totals kept per window.
-- Fields: h (head bucket), c<b>/s<b>/m<b> per occupied bucket, o (the occupied
-- bucket numbers, comma-separated), C<n>/S<n> per window, M (max over the
-- longest window, kept current on add, recomputed on advance). Advancing and
-- pruning visit occupied buckets only, so a sparse entity costs the same after
-- an hour's gap as after a minute's. Common path: one HMGET, one HSET, one PEXPIRE.
local function window_fields(op, b)
  local fields = {'h', 'c' .. b, 's' .. b, 'm' .. b, 'M', 'o'}
  for i = 1, #op.ns do
    fields[#fields + 1] = op.Cf[i]; fields[#fields + 1] = op.Sf[i]
  end
  return fields
end

local function occupied(text)
  local occ = {}
  if text then
    for x in string.gmatch(text, '[^,]+') do occ[#occ + 1] = tonumber(x) end
  end
  return occ
end

-- Sum count and sum of the occupied buckets k with lo < k <= hi.
local function bucket_sums(key, occ, lo, hi)
  local fields = {}
  for _, k in ipairs(occ) do
    if k > lo and k <= hi then fields[#fields + 1] = 'c' .. k; fields[#fields + 1] = 's' .. k end
  end
  if #fields == 0 then return 0, 0 end
  local e = redis.call('HMGET', key, unpack(fields))
  local cnt, sum = 0, 0
  for j = 1, #e, 2 do
    cnt = cnt + (tonumber(e[j]) or 0); sum = sum + (tonumber(e[j + 1]) or 0)
  end
  return cnt, sum
end

local function window_update(key, op, t, value, dcount, out)
  local b = math.floor(t / op.B)
  local N = op.N
  local v = redis.call('HMGET', key, unpack(window_fields(op, b)))
  local h = tonumber(v[1])
  local cb, sb, mb, M = tonumber(v[2]), tonumber(v[3]) or 0, tonumber(v[4]), tonumber(v[5]) or 0
  local occ = occupied(v[6])
  local occ_changed = false
  local C, S = {}, {}
  for i, n in ipairs(op.ns) do
    C[n] = tonumber(v[5 + 2 * i]) or 0; S[n] = tonumber(v[6 + 2 * i]) or 0
  end
  local sets = {}
  local moved = h == nil or b > h
  if h == nil or b - h >= N then
    -- New key, or everything retained has expired: start over.
    if h ~= nil then redis.call('DEL', key) end
    for _, n in ipairs(op.ns) do C[n] = 0; S[n] = 0 end
    cb, sb, mb, M = nil, 0, nil, 0
    occ = {}
    occ_changed = true
    h = b
  elseif b > h then
    -- Advance the head from h to b: subtract the buckets leaving each window,
    -- drop the buckets leaving the longest one, recompute the max.
    for _, n in ipairs(op.ns) do
      if b - h >= n then
        C[n] = 0; S[n] = 0
      else
        local cnt, sum = bucket_sums(key, occ, h - n, b - n)
        C[n] = C[n] - cnt; S[n] = S[n] - sum
      end
    end
    local keep, dels = {}, {}
    for _, k in ipairs(occ) do
      if k > b - N then
        keep[#keep + 1] = k
      else
        dels[#dels + 1] = 'c' .. k; dels[#dels + 1] = 's' .. k; dels[#dels + 1] = 'm' .. k
      end
    end
    if #dels > 0 then
      redis.call('HDEL', key, unpack(dels))
      occ = keep
      occ_changed = true
    end
    if op.mx == 1 then
      M = 0
      if #occ > 0 then
        local mf = {}
        for _, k in ipairs(occ) do mf[#mf + 1] = 'm' .. k end
        local m = redis.call('HMGET', key, unpack(mf))
        for i = 1, #m do
          local x = tonumber(m[i])
          if x and x > M then M = x end
        end
      end
    end
    h = b
  end
  sets[#sets + 1] = 'h'; sets[#sets + 1] = h
  if b > h - N then
    -- Inside the retained range: count it (a late event counts in every
    -- window, ending at the head, that still covers its bucket).
    if cb == nil then
      occ[#occ + 1] = b
      occ_changed = true
    end
    sets[#sets + 1] = 'c' .. b; sets[#sets + 1] = (cb or 0) + dcount
    sets[#sets + 1] = 's' .. b; sets[#sets + 1] = sb + value
    if op.mx == 1 then
      if mb == nil or value > mb then sets[#sets + 1] = 'm' .. b; sets[#sets + 1] = value end
      if value > M then M = value end
    end
    for _, n in ipairs(op.ns) do
      if b > h - n then C[n] = C[n] + dcount; S[n] = S[n] + value end
    end
  end
  if occ_changed then sets[#sets + 1] = 'o'; sets[#sets + 1] = table.concat(occ, ',') end
  for i, n in ipairs(op.ns) do
    sets[#sets + 1] = op.Cf[i]; sets[#sets + 1] = C[n]
    sets[#sets + 1] = op.Sf[i]; sets[#sets + 1] = S[n]
    out[#out + 1] = C[n]; out[#out + 1] = S[n]
  end
  if op.mx == 1 then
    sets[#sets + 1] = 'M'; sets[#sets + 1] = M
    out[#out + 1] = M
  end
  redis.call('HSET', key, unpack(sets))
  -- The expiry has two buckets of slack over the longest window, so refreshing
  -- it only when the head moves never lets live state expire.
  if moved then redis.call('PEXPIRE', key, op.ttl) end
end

local function window_zeros(op, out)
  for _ = 1, 2 * #op.ns do out[#out + 1] = 0 end
  if op.mx == 1 then out[#out + 1] = 0 end
end

local function window_read_at(key, op, t, out)
  -- Read-only: the windows as they stood at time t, to the bucket (labels
  -- known by the end of t's bucket count).
  local b = math.floor(t / op.B)
  local v = redis.call('HMGET', key, unpack(window_fields(op, b)))
  local h = tonumber(v[1])
  if h == nil then window_zeros(op, out); return end
  local occ = occupied(v[6])
  for i, n in ipairs(op.ns) do
    local cnt, sum = tonumber(v[5 + 2 * i]) or 0, tonumber(v[6 + 2 * i]) or 0
    if b > h and b - h >= n then
      cnt, sum = 0, 0
    elseif b < h then
      -- Older than the head: its own window from the buckets, so labels that
      -- became known after it (in later buckets) do not count.
      cnt, sum = bucket_sums(key, occ, math.max(b - n, h - op.N), b)
    elseif b > h then
      local gone_c, gone_s = bucket_sums(key, occ, h - n, b - n)
      cnt = cnt - gone_c; sum = sum - gone_s
    end
    out[#out + 1] = cnt; out[#out + 1] = sum
  end
end

-- Distinct sets: a sorted set member -> last time seen, capped at op.cap.
local function distinct(key, op, t, member, out)
  local added = redis.call('ZADD', key, 'GT', t, member)
  if added == 1 then
    local size = redis.call('ZCARD', key)
    if size > op.cap then redis.call('ZREMRANGEBYRANK', key, 0, size - op.cap - 1) end
  end
  out[#out + 1] = added
  for _, w in ipairs(op.ws) do
    out[#out + 1] = redis.call('ZCOUNT', key, '(' .. (t - w), '+inf')
  end
  redis.call('PEXPIRE', key, op.ttl)
end

-- Last event: previous time, previous located time and place, first seen, count.
local function last_event(key, t, lat, lon, out)
  local v = redis.call('HMGET', key, 't', 'gt', 'lat', 'lon', 'f', 'n')
  local pt, gt, f, n = tonumber(v[1]), tonumber(v[2]), tonumber(v[5]), tonumber(v[6]) or 0
  out[#out + 1] = pt or -1
  out[#out + 1] = gt or -1
  out[#out + 1] = v[3] or ''
  out[#out + 1] = v[4] or ''
  out[#out + 1] = f or -1
  out[#out + 1] = n
  local sets = {'n', (n + 1)}
  if pt == nil or t >= pt then sets[#sets + 1] = 't'; sets[#sets + 1] = (t) end
  if lat ~= '' and (gt == nil or t >= gt) then
    sets[#sets + 1] = 'gt'; sets[#sets + 1] = (t)
    sets[#sets + 1] = 'lat'; sets[#sets + 1] = lat
    sets[#sets + 1] = 'lon'; sets[#sets + 1] = lon
  end
  if f == nil or t < f then sets[#sets + 1] = 'f'; sets[#sets + 1] = (t) end
  redis.call('HSET', key, unpack(sets))
end

-- Hour-of-day profile: events in the neighbouring hours and in total, before this one.
local function hour_profile(key, hour, out)
  local v = redis.call('HMGET', key, tostring((hour + 23) % 24), tostring(hour), tostring((hour + 1) % 24), 'n')
  out[#out + 1] = (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0) + (tonumber(v[3]) or 0)
  out[#out + 1] = tonumber(v[4]) or 0
  redis.call('HSET', key, tostring(hour), (tonumber(v[2]) or 0) + 1, 'n', (tonumber(v[4]) or 0) + 1)
end

local function zeros(op, out)
  if op.k == 'W' or op.k == 'R' then window_zeros(op, out)
  elseif op.k == 'D' then for _ = 0, #op.ws do out[#out + 1] = 0 end
  elseif op.k == 'L' then
    out[#out + 1] = -1; out[#out + 1] = -1; out[#out + 1] = ''; out[#out + 1] = ''
    out[#out + 1] = -1; out[#out + 1] = 0
  elseif op.k == 'H' then out[#out + 1] = 0; out[#out + 1] = 0
  end
end

local plan = cjson.decode(ARGV[1])
local ops = plan.ops
for _, op in ipairs(ops) do
  if op.ns then
    op.Cf, op.Sf = {}, {}
    for i, n in ipairs(op.ns) do op.Cf[i] = 'C' .. n; op.Sf[i] = 'S' .. n end
  end
end
local items = tonumber(ARGV[2])
local per_item_args = 0
for _, op in ipairs(ops) do per_item_args = per_item_args + ARGS_PER_OP[op.k] end
local keys_per_item = #ops + 1
local replies = {}

for i = 0, items - 1 do
  local kb = i * keys_per_item
  local a = 2 + i * per_item_args
  local dedup_key = KEYS[kb + 1]
  local stored = redis.call('GET', dedup_key)
  if stored then
    local res = cmsgpack.unpack(stored)
    res[1] = 1
    replies[#replies + 1] = res
  else
    local res = {0}
    for j, op in ipairs(ops) do
      local key = KEYS[kb + 1 + j]
      if key == '' then
        zeros(op, res)
      elseif op.k == 'W' then
        window_update(key, op, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), res)
      elseif op.k == 'R' then
        window_read_at(key, op, tonumber(ARGV[a + 1]), res)
      elseif op.k == 'D' then
        distinct(key, op, tonumber(ARGV[a + 1]), ARGV[a + 2], res)
      elseif op.k == 'L' then
        last_event(key, tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], res)
        redis.call('PEXPIRE', key, op.ttl)
      elseif op.k == 'H' then
        hour_profile(key, tonumber(ARGV[a + 1]), res)
        redis.call('PEXPIRE', key, op.ttl)
      end
      a = a + ARGS_PER_OP[op.k]
    end
    redis.call('SET', dedup_key, cmsgpack.pack(res), 'PX', plan.dedup_ttl)
    replies[#replies + 1] = res
  end
end
return replies

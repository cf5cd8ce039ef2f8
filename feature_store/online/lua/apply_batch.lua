-- Apply a micro-batch of transactions (or labels) to the feature state and read
-- every state back, atomically, in one round trip.
--
-- ARGV[1]  plan (JSON, feature_store/plan.py): {"groups": [...], "dedup_ttl", "nargs", "nkeys"}
-- ARGV[2]  number of items in the batch
-- then, per item: t, value, dcount, hour, lat, lon, the item's bucket number per
--          bucket size, the lower bound "(t-w" per distinct-set window, and one
--          member per distinct set (positions in the plan: bi, wi, m).
-- KEYS     per item: the dedup key, then per group the entity hash key and one
--          key per distinct set ("" = entity or member absent).
--
-- The reply is one string per item: a byte "0" or "1" (dup) and the item's
-- values as a MessagePack array. dup = 1 when the dedup key already existed:
-- the values stored at the first delivery are returned and nothing changes, so
-- a redelivered transaction reads the same vector and counts once. Numbers are
-- integer cents / counts / epoch ms; coordinates are the exact strings Python sent.
--
-- Cost model (measured on the 2-core box, Redis 7.0): a redis.call costs about
-- 1 us, and every number <-> text conversion in this Lua costs about 0.3 us
-- (tonumber, tostring, "x" .. n, table.concat of numbers). So each entity is
-- read with one HMGET and written with one HSET; text that needs no arithmetic
-- passes through unconverted (bucket numbers and bounds arrive as text, stored
-- times are written back as the text they came in as); a window's list of
-- occupied buckets is parsed only when its head moves; replies are packed with
-- cmsgpack; expiries are pushed back only every 1/16 of their length.
--
-- This file and feature_store/online/memory.py implement the same semantics;
-- the parity tests hold them together. Change both or neither.

local plan = cjson.decode(ARGV[1])
local groups = plan.groups
local NARGS, NKEYS = plan.nargs, plan.nkeys

-- Field names that do not depend on the item are built once per call.
for _, g in ipairs(groups) do
  for _, op in ipairs(g.hs) do
    local t = op.t
    if op.k == 'W' or op.k == 'R' then
      op.fh, op.fo, op.fM = t .. 'h', t .. 'o', t .. 'M'
      op.pc, op.ps, op.pm = t .. 'c', t .. 's', t .. 'm'
      op.Cf, op.Sf = {}, {}
      for i, n in ipairs(op.ns) do op.Cf[i] = t .. 'C' .. n; op.Sf[i] = t .. 'S' .. n end
    elseif op.k == 'L' then
      op.f = {t .. 't', t .. 'g', t .. 'a', t .. 'o', t .. 'f', t .. 'n'}
    else
      op.fn = t .. 'n'
    end
  end
  for i, z in ipairs(g.zs) do z.fx = '~z' .. i end
end

local HOURS = {}
for h = 0, 23 do HOURS[h] = tostring(h) end

-- The occupied buckets as numbers (for arithmetic) and as text (for field names).
local function occupied(text)
  local occ, names = {}, {}
  if text then
    for x in string.gmatch(text, '[^,]+') do occ[#occ + 1] = tonumber(x); names[#names + 1] = x end
  end
  return occ, names
end

-- Windows --------------------------------------------------------------------
-- Count and sum of the occupied buckets k with lo < k <= hi.
local function bucket_sums(key, op, occ, names, lo, hi)
  local fields = {}
  for i, k in ipairs(occ) do
    if k > lo and k <= hi then fields[#fields + 1] = op.pc .. names[i]; fields[#fields + 1] = op.ps .. names[i] end
  end
  if #fields == 0 then return 0, 0 end
  local e = redis.call('HMGET', key, unpack(fields))
  local cnt, sum = 0, 0
  for j = 1, #e, 2 do
    cnt = cnt + (tonumber(e[j]) or 0); sum = sum + (tonumber(e[j + 1]) or 0)
  end
  return cnt, sum
end

local function drop_buckets(key, op, names)
  if #names == 0 then return end
  local dels = {}
  for _, k in ipairs(names) do
    dels[#dels + 1] = op.pc .. k; dels[#dels + 1] = op.ps .. k; dels[#dels + 1] = op.pm .. k
  end
  redis.call('HDEL', key, unpack(dels))
end

local function window_fields(op, bs, fields)
  fields[#fields + 1] = op.fh
  if op.k == 'W' then
    fields[#fields + 1] = op.pc .. bs; fields[#fields + 1] = op.ps .. bs
    if op.mx == 1 then fields[#fields + 1] = op.pm .. bs; fields[#fields + 1] = op.fM end
  end
  fields[#fields + 1] = op.fo
  for i = 1, #op.ns do fields[#fields + 1] = op.Cf[i]; fields[#fields + 1] = op.Sf[i] end
end

local function text_or_nil(x)
  if x == false or x == '' then return nil end
  return x
end

-- Insert bucket b (text bs) into the ascending list text (a late event's bucket).
local function insert_sorted(text, b, bs)
  local occ, names = occupied(text)
  local out, placed = {}, false
  for x, k in ipairs(occ) do
    if not placed and k > b then out[#out + 1] = bs; placed = true end
    out[#out + 1] = names[x]
  end
  if not placed then out[#out + 1] = bs end
  return table.concat(out, ',')
end

-- Move a window's head from h to b (h < b < h + N) in place of C, S and the max:
-- * the shorter windows lose the buckets (h-n, b-n]: fewer than n, read by name;
-- * the longest window loses the oldest buckets, a prefix of the ascending list
--   of occupied buckets, which are also the ones deleted. Only that prefix is
--   parsed, so the cost follows the buckets leaving, not the buckets kept;
-- * the max is recomputed only when a deleted bucket held it.
-- Returns the rest of the list (text or nil) and the max.
local function advance(key, op, h, b, otext, C, S, M)
  local k, N, ns = b - h, op.N, op.ns
  local mx = op.mx == 1
  local fields, spans = {}, {}
  for w, n in ipairs(ns) do
    if k >= n then
      C[w] = 0; S[w] = 0
    elseif n < N then
      spans[w] = #fields + 1
      for x = h - n + 1, b - n do
        local name = tostring(x)
        fields[#fields + 1] = op.pc .. name; fields[#fields + 1] = op.ps .. name
      end
    end
  end
  local gone, pos = {}, 1
  if otext then
    local limit = b - N
    while true do
      local comma = string.find(otext, ',', pos, true)
      local name = string.sub(otext, pos, comma and comma - 1 or -1)
      if tonumber(name) > limit then break end
      gone[#gone + 1] = name
      if not comma then pos = #otext + 1; break end
      pos = comma + 1
    end
  end
  local g0 = #fields + 1
  for _, name in ipairs(gone) do
    fields[#fields + 1] = op.pc .. name; fields[#fields + 1] = op.ps .. name
    if mx then fields[#fields + 1] = op.pm .. name end
  end
  local gone_max = 0
  if #fields > 0 then
    local e = redis.call('HMGET', key, unpack(fields))
    for w, n in ipairs(ns) do
      local s0 = spans[w]
      if s0 then
        local cnt, sum = 0, 0
        for x = s0, s0 + 2 * k - 1, 2 do
          cnt = cnt + (tonumber(e[x]) or 0); sum = sum + (tonumber(e[x + 1]) or 0)
        end
        C[w] = C[w] - cnt; S[w] = S[w] - sum
      end
    end
    local cnt, sum, step = 0, 0, mx and 3 or 2
    for x = g0, #fields, step do
      cnt = cnt + (tonumber(e[x]) or 0); sum = sum + (tonumber(e[x + 1]) or 0)
      if mx then
        local y = tonumber(e[x + 2])
        if y and y > gone_max then gone_max = y end
      end
    end
    local last = #ns  -- ns ascends, so the last window is the longest (k < N here)
    C[last] = C[last] - cnt; S[last] = S[last] - sum
  end
  local rest = otext
  if #gone > 0 then
    drop_buckets(key, op, gone)
    rest = text_or_nil(string.sub(otext, pos))
    if mx and gone_max >= M then
      M = 0
      if rest then
        local mf = {}
        for name in string.gmatch(rest, '[^,]+') do mf[#mf + 1] = op.pm .. name end
        local m = redis.call('HMGET', key, unpack(mf))
        for x = 1, #m do
          local y = tonumber(m[x])
          if y and y > M then M = y end
        end
      end
    end
  end
  return rest, M
end

-- v[i..] holds the fields window_fields asked for.
local function window_update(key, op, v, i, t, bs, value, dcount, sets, res)
  local b = math.floor(t / op.B)
  local N = op.N
  -- The head is usually the event's own bucket: then no conversion is needed.
  local h = (v[i] == bs) and b or tonumber(v[i])
  local cb, sb = tonumber(v[i + 1]), tonumber(v[i + 2]) or 0
  local mb, M = nil, 0
  local j = i + 3
  if op.mx == 1 then mb = tonumber(v[j]); M = tonumber(v[j + 1]) or 0; j = j + 2 end
  local otext = text_or_nil(v[j])
  local C, S = {}, {}
  for w = 1, #op.ns do C[w] = tonumber(v[j + 2 * w - 1]) or 0; S[w] = tonumber(v[j + 2 * w]) or 0 end
  local o_changed = false
  if h == nil or b - h >= N then
    -- New state, or everything retained has left the longest window: start over.
    if h ~= nil then
      local _, names = occupied(otext)
      drop_buckets(key, op, names)
    end
    for w = 1, #op.ns do C[w] = 0; S[w] = 0 end
    cb, sb, mb, M = nil, 0, nil, 0
    otext = nil
    o_changed = true
    h = b
  elseif b > h then
    otext, M = advance(key, op, h, b, otext, C, S, M)
    o_changed = true
    h = b
  end
  -- The head is stored as the bucket's text, so the comparison above stays exact.
  sets[#sets + 1] = op.fh; sets[#sets + 1] = (h == b) and bs or v[i]
  if b > h - N then
    -- Inside the retained range: count it (a late event counts in every
    -- window, ending at the head, that still covers its bucket).
    if cb == nil then
      -- Kept in ascending order: a new head goes at the end, a late bucket in place.
      if otext == nil then otext = bs
      elseif b == h then otext = otext .. ',' .. bs
      else otext = insert_sorted(otext, b, bs) end
      o_changed = true
    end
    sets[#sets + 1] = op.pc .. bs; sets[#sets + 1] = (cb or 0) + dcount
    sets[#sets + 1] = op.ps .. bs; sets[#sets + 1] = sb + value
    if op.mx == 1 then
      if mb == nil or value > mb then sets[#sets + 1] = op.pm .. bs; sets[#sets + 1] = value end
      if value > M then M = value end
    end
    for w, n in ipairs(op.ns) do
      if b > h - n then C[w] = C[w] + dcount; S[w] = S[w] + value end
    end
  end
  if o_changed then sets[#sets + 1] = op.fo; sets[#sets + 1] = otext or '' end
  for w = 1, #op.ns do
    sets[#sets + 1] = op.Cf[w]; sets[#sets + 1] = C[w]
    sets[#sets + 1] = op.Sf[w]; sets[#sets + 1] = S[w]
    res[#res + 1] = C[w]; res[#res + 1] = S[w]
  end
  if op.mx == 1 then
    sets[#sets + 1] = op.fM; sets[#sets + 1] = M
    res[#res + 1] = M
  end
end

local function window_zeros(op, res)
  for _ = 1, 2 * #op.ns do res[#res + 1] = 0 end
  if op.mx == 1 then res[#res + 1] = 0 end
end

-- Read-only: the windows as they stood at time t, to the bucket (labels known
-- by the end of t's bucket count).
local function window_read_at(key, op, v, i, t, res)
  local b = math.floor(t / op.B)
  local h = tonumber(v[i])
  if h == nil then window_zeros(op, res); return end
  local occ, names = nil, nil
  for w, n in ipairs(op.ns) do
    local cnt, sum = tonumber(v[i + 2 * w]) or 0, tonumber(v[i + 2 * w + 1]) or 0
    if b > h and b - h >= n then
      cnt, sum = 0, 0
    elseif b < h then
      -- Older than the head: its own window from the buckets, so labels that
      -- became known after it (in later buckets) do not count.
      if not occ then occ, names = occupied(text_or_nil(v[i + 1])) end
      cnt, sum = bucket_sums(key, op, occ, names, math.max(b - n, h - op.N), b)
    elseif b > h then
      if not occ then occ, names = occupied(text_or_nil(v[i + 1])) end
      local gone_c, gone_s = bucket_sums(key, op, occ, names, h - n, b - n)
      cnt = cnt - gone_c; sum = sum - gone_s
    end
    res[#res + 1] = cnt; res[#res + 1] = sum
  end
end

-- Last event and hour profile ---------------------------------------------
-- Previous time, previous located time and place, first seen, count.
-- Coordinates go back as the text they are stored as; times are written as the
-- text they arrived as.
local function last_event(op, v, i, t, ts, lat, lon, sets, res)
  local pt, gt, f, n = tonumber(v[i]), tonumber(v[i + 1]), tonumber(v[i + 4]), tonumber(v[i + 5]) or 0
  res[#res + 1] = pt or -1
  res[#res + 1] = gt or -1
  res[#res + 1] = v[i + 2] or ''
  res[#res + 1] = v[i + 3] or ''
  res[#res + 1] = f or -1
  res[#res + 1] = n
  local fl = op.f
  sets[#sets + 1] = fl[6]; sets[#sets + 1] = n + 1
  if pt == nil or t >= pt then sets[#sets + 1] = fl[1]; sets[#sets + 1] = ts end
  if lat ~= '' and (gt == nil or t >= gt) then
    sets[#sets + 1] = fl[2]; sets[#sets + 1] = ts
    sets[#sets + 1] = fl[3]; sets[#sets + 1] = lat
    sets[#sets + 1] = fl[4]; sets[#sets + 1] = lon
  end
  if f == nil or t < f then sets[#sets + 1] = fl[5]; sets[#sets + 1] = ts end
end

-- Events in the neighbouring hours and in total, before this one.
local function hour_profile(op, v, i, hour, sets, res)
  local here, total = tonumber(v[i + 1]) or 0, tonumber(v[i + 3]) or 0
  res[#res + 1] = (tonumber(v[i]) or 0) + here + (tonumber(v[i + 2]) or 0)
  res[#res + 1] = total
  sets[#sets + 1] = op.t .. HOURS[hour]; sets[#sets + 1] = here + 1
  sets[#sets + 1] = op.fn; sets[#sets + 1] = total + 1
end

-- Distinct sets: a sorted set member -> last time seen, capped at z.cap.
-- Returns true when its expiry was pushed back.
local function distinct(key, z, t, a, member, marked, res)
  local added = redis.call('ZADD', key, 'GT', t, member)
  local size = 0
  if added == 1 then
    size = redis.call('ZCARD', key)
    if size > z.cap then redis.call('ZREMRANGEBYRANK', key, 0, size - z.cap - 1) end
  end
  res[#res + 1] = added
  for _, wi in ipairs(z.wi) do
    res[#res + 1] = redis.call('ZCOUNT', key, ARGV[a + wi - 1], '+inf')
  end
  -- A new key (its first member) needs an expiry at once; otherwise push the
  -- expiry back every 1/16 of it, with that much slack on top.
  if size == 1 or marked == nil or t - marked >= z.slack then
    redis.call('PEXPIRE', key, z.ttl + z.slack)
    return true
  end
  return false
end

local function group_zeros(g, res)
  for _, op in ipairs(g.hs) do
    if op.k == 'L' then
      res[#res + 1] = -1; res[#res + 1] = -1; res[#res + 1] = ''; res[#res + 1] = ''
      res[#res + 1] = -1; res[#res + 1] = 0
    elseif op.k == 'H' then
      res[#res + 1] = 0; res[#res + 1] = 0
    else
      window_zeros(op, res)
    end
  end
  for _, z in ipairs(g.zs) do
    for _ = 0, #z.wi do res[#res + 1] = 0 end
  end
end

-- One entity of one item: one HMGET, the states in order, one HSET.
local function run_group(g, hkey, k0, a, t, value, dcount, hour, lat, lon, res)
  local ts = ARGV[a]
  local fields, starts = {}, {}
  for j, op in ipairs(g.hs) do
    starts[j] = #fields + 1
    if op.k == 'W' or op.k == 'R' then
      window_fields(op, ARGV[a + op.bi - 1], fields)
    elseif op.k == 'L' then
      for x = 1, 6 do fields[#fields + 1] = op.f[x] end
    else
      local tg = op.t
      fields[#fields + 1] = tg .. HOURS[(hour + 23) % 24]; fields[#fields + 1] = tg .. HOURS[hour]
      fields[#fields + 1] = tg .. HOURS[(hour + 1) % 24]; fields[#fields + 1] = op.fn
    end
  end
  local xi = #fields + 1
  fields[xi] = '~x'
  for _, z in ipairs(g.zs) do fields[#fields + 1] = z.fx end
  local v = redis.call('HMGET', hkey, unpack(fields))
  local sets = {}
  for j, op in ipairs(g.hs) do
    local i = starts[j]
    if op.k == 'W' then
      window_update(hkey, op, v, i, t, ARGV[a + op.bi - 1], value, dcount, sets, res)
    elseif op.k == 'R' then
      window_read_at(hkey, op, v, i, t, res)
    elseif op.k == 'L' then
      last_event(op, v, i, t, ts, lat, lon, sets, res)
    else
      hour_profile(op, v, i, hour, sets, res)
    end
  end
  for zi, z in ipairs(g.zs) do
    local zkey, member = KEYS[k0 + zi], ARGV[a + z.m - 1]
    if zkey == '' or member == '' then
      for _ = 0, #z.wi do res[#res + 1] = 0 end
    elseif distinct(zkey, z, t, a, member, tonumber(v[xi + zi]), res) then
      sets[#sets + 1] = z.fx; sets[#sets + 1] = ts
    end
  end
  local marked = tonumber(v[xi])
  local refresh = marked == nil or t - marked >= g.slack
  if refresh then sets[#sets + 1] = '~x'; sets[#sets + 1] = ts end
  if #sets > 0 then redis.call('HSET', hkey, unpack(sets)) end
  if refresh then redis.call('PEXPIRE', hkey, g.ttl + g.slack) end
end

local items = tonumber(ARGV[2])
local lines = {}
for it = 0, items - 1 do
  local kb = it * NKEYS
  local a = 3 + it * NARGS
  local dedup_key = KEYS[kb + 1]
  local stored = redis.call('GET', dedup_key)
  if stored then
    lines[#lines + 1] = '1' .. stored
  else
    local t, value, dcount = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local hour, lat, lon = tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[a + 5]
    local res = {}
    local k = kb + 2
    for _, g in ipairs(groups) do
      local hkey = KEYS[k]
      if hkey == '' then
        group_zeros(g, res)
      else
        run_group(g, hkey, k, a, t, value, dcount, hour, lat, lon, res)
      end
      k = k + 1 + #g.zs
    end
    local packed = cmsgpack.pack(res)
    redis.call('SET', dedup_key, packed, 'PX', plan.dedup_ttl)
    lines[#lines + 1] = '0' .. packed
  end
end
return lines

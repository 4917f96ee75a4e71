import { createHash } from 'node:crypto';
import type { LuaScript } from './scripts.js';

/**
 * The Lua scripts of RedisInbox. Each is one atomic step (store, claim, ack, offline claim,
 * redrive, sweep), which is what hands every attempt, dead letter, offline notice and expiry to
 * exactly one caller. ARGV[1] is always the key base (see inbox-keys.ts); no KEYS are declared,
 * as the scripts reach several users' keys: a single Redis only.
 *
 * Notification meta (JSON in `<base>n`): u user, e event, g urgent (0/1), k collapse key,
 * t ttl, c created, x expires, a attempts, r next attempt (-1 before the first), s seq, o claimer of the last attempt ('' for none).
 * Data stays an opaque JSON string in `<base>d`, never decoded here (cjson would turn `[]` into `{}`).
 */

function lua(name: string, body: string): LuaScript {
  const source = `${PROLOGUE}\n${body}`;
  return { name, keys: 0, source, sha: createHash('sha1').update(source).digest('hex') };
}

const PROLOGUE = `
local P = ARGV[1]
local K = { n = P..'n', d = P..'d', exp = P..'exp', off = P..'off', seq = P..'seq', done = P..'done',
  dead = P..'dead', deadT = P..'dead:t', deadF = P..'dead:f' }
local function userZ(u) return P..'u:'..u end
local function userCk(u) return P..'ck:'..u end
local function deadU(u) return P..'dead:u:'..u end
local function num(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Urgent ones first, then the rest; seq order within each (2^50 is far above any seq).
local function score(m) if m.g == 1 then return m.s end return m.s + 1125899906842624 end

local function remove(id, m, keepData)
  redis.call('HDEL', K.n, id)
  if not keepData then redis.call('HDEL', K.d, id) end
  redis.call('ZREM', userZ(m.u), id)
  redis.call('ZREM', K.exp, id)
  redis.call('ZREM', K.off, id)
  if m.k and redis.call('HGET', userCk(m.u), m.k) == id then redis.call('HDEL', userCk(m.u), m.k) end
end

local function insert(id, m, data)
  redis.call('HSET', K.n, id, cjson.encode(m))
  redis.call('HSET', K.d, id, data)
  redis.call('ZADD', userZ(m.u), num(score(m)), id)
  redis.call('ZADD', K.exp, num(m.x), id)
  redis.call('ZADD', K.off, num(m.c), id)
  if m.k then redis.call('HSET', userCk(m.u), m.k, id) end
end

local function unlinkDead(id, dm)
  redis.call('HDEL', K.dead, id)
  redis.call('ZREM', K.deadT, id)
  redis.call('ZREM', K.deadF, id)
  redis.call('ZREM', deadU(dm.u), id)
end
`;

/** ARGV: base, id, user, event, data, ttl, urgent, collapse ('' for none), channel. Nil when the id is known. */
export const INBOX_NOTIFY = lua(
  'inbox-notify',
  `
local id, u, ck = ARGV[2], ARGV[3], ARGV[8]
if redis.call('HEXISTS', K.n, id) == 1 or redis.call('HEXISTS', K.dead, id) == 1 then return false end
local f = redis.call('ZSCORE', K.done, id)
if f and tonumber(f) > now then return false end
local replaced = {}
if ck ~= '' then
  local old = redis.call('HGET', userCk(u), ck)
  local raw = old and redis.call('HGET', K.n, old)
  if raw then
    local m = cjson.decode(raw)
    if m.a == 0 and m.k == ck then remove(old, m, false); table.insert(replaced, old) end
  end
end
local ttl = tonumber(ARGV[6])
local m = { u = u, e = ARGV[4], g = tonumber(ARGV[7]), t = ttl, c = now, x = now + ttl, a = 0, r = -1,
  s = redis.call('INCR', K.seq) }
if ck ~= '' then m.k = ck end
insert(id, m, ARGV[5])
redis.call('PUBLISH', ARGV[9], u)
return replaced
`,
);

/** ARGV: base, user, limit. Returns [id, meta, data] triples in delivery order. */
export const INBOX_PENDING = lua(
  'inbox-pending',
  `
local z, limit, out, start = userZ(ARGV[2]), tonumber(ARGV[3]), {}, 0
while #out < limit do
  local ids = redis.call('ZRANGE', z, start, start + 199)
  if #ids == 0 then break end
  start = start + 200
  for _, id in ipairs(ids) do
    if #out >= limit then break end
    local raw = redis.call('HGET', K.n, id)
    if raw and cjson.decode(raw).x > now then table.insert(out, { id, raw, redis.call('HGET', K.d, id) }) end
  end
end
return out
`,
);

/**
 * ARGV: base, user, maxAttempts, retryAfterMs, limit, deadLetterTtlMs, claimer ('' for none), resend (0/1).
 * Returns { sent triples, dead triples, retryAt or -1, retryAt - now }. Meta field o: the claimer.
 */
export const INBOX_CLAIM = lua(
  'inbox-claim',
  `
local u, max, retry, limit, deadTtl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local claimer, resend = ARGV[7], ARGV[8] == '1'
local sent, dead, retryAt, blocked = {}, {}, -1, false
for _, id in ipairs(redis.call('ZRANGE', userZ(u), 0, -1)) do
  local raw = redis.call('HGET', K.n, id)
  if raw then
    local m = cjson.decode(raw)
    local kept = true
    if m.x > now and m.r > now and not blocked and #sent < limit then
      if resend then
        -- In flight: sent again in its place, taken over, no attempt counted.
        m.o = claimer
        m.r = now + retry
        local encoded = cjson.encode(m)
        redis.call('HSET', K.n, id, encoded)
        table.insert(sent, { id, encoded, redis.call('HGET', K.d, id) })
      elseif (m.o or '') ~= claimer then
        -- Held by another claimer: nothing after it may overtake it.
        blocked = true
      end
    elseif m.x > now and m.r <= now and not blocked and #sent < limit then
      if m.a >= max then
        remove(id, m, true)
        kept = false
        local dm = { u = m.u, e = m.e, g = m.g, k = m.k, t = m.t, a = m.a, da = now, f = now + deadTtl }
        local encoded = cjson.encode(dm)
        redis.call('HSET', K.dead, id, encoded)
        redis.call('ZADD', K.deadT, num(now), id)
        redis.call('ZADD', K.deadF, num(dm.f), id)
        redis.call('ZADD', deadU(u), num(now), id)
        table.insert(dead, { id, encoded, redis.call('HGET', K.d, id) })
      else
        m.a = m.a + 1
        m.r = now + retry
        m.o = claimer
        local encoded = cjson.encode(m)
        redis.call('HSET', K.n, id, encoded)
        table.insert(sent, { id, encoded, redis.call('HGET', K.d, id) })
      end
    end
    if kept and m.x > now and m.r >= 0 and (retryAt < 0 or m.r < retryAt) then retryAt = m.r end
  end
end
return { sent, dead, num(retryAt), num(retryAt - now) }
`,
);

/** ARGV: base, user, dedupWindowMs, ids... Returns how many it removed. */
export const INBOX_ACK = lua(
  'inbox-ack',
  `
local count, forget = 0, now + tonumber(ARGV[3])
for i = 4, #ARGV do
  local id = ARGV[i]
  local raw = redis.call('HGET', K.n, id)
  if raw then
    local m = cjson.decode(raw)
    if m.u == ARGV[2] then
      remove(id, m, false)
      redis.call('ZADD', K.done, num(forget), id)
      count = count + 1
    end
  end
end
return count
`,
);

/** ARGV: base, afterMs, limit. Returns triples, each removed from the offline index for good. */
export const INBOX_CLAIM_OFFLINE = lua(
  'inbox-claim-offline',
  `
local out = {}
local ids = redis.call('ZRANGEBYSCORE', K.off, '-inf', num(now - tonumber(ARGV[2])), 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZREM', K.off, id)
  local raw = redis.call('HGET', K.n, id)
  if raw and cjson.decode(raw).x > now then table.insert(out, { id, raw, redis.call('HGET', K.d, id) }) end
end
return out
`,
);

/** ARGV: base, user ('' for every user), limit. Returns [id, dead meta, data] triples, oldest first. */
export const INBOX_DEAD_LETTERS = lua(
  'inbox-dead-letters',
  `
local z = K.deadT
if ARGV[2] ~= '' then z = deadU(ARGV[2]) end
local limit, out, start = tonumber(ARGV[3]), {}, 0
while #out < limit do
  local ids = redis.call('ZRANGE', z, start, start + 199)
  if #ids == 0 then break end
  start = start + 200
  for _, id in ipairs(ids) do
    if #out >= limit then break end
    local raw = redis.call('HGET', K.dead, id)
    if raw and cjson.decode(raw).f > now then table.insert(out, { id, raw, redis.call('HGET', K.d, id) }) end
  end
end
return out
`,
);

/** ARGV: base, id, channel. Returns 1 when redriven. */
export const INBOX_REDRIVE = lua(
  'inbox-redrive',
  `
local id = ARGV[2]
local raw = redis.call('HGET', K.dead, id)
if not raw then return 0 end
local dm = cjson.decode(raw)
if dm.f <= now then return 0 end
unlinkDead(id, dm)
local m = { u = dm.u, e = dm.e, g = dm.g, t = dm.t, c = now, x = now + dm.t, a = 0, r = -1,
  s = redis.call('INCR', K.seq) }
-- The collapse index keeps pointing at a newer undelivered notification with the same key, if any.
local current = dm.k and redis.call('HGET', userCk(dm.u), dm.k)
local live = current and redis.call('HGET', K.n, current)
if dm.k and not (live and cjson.decode(live).a == 0) then m.k = dm.k end
insert(id, m, redis.call('HGET', K.d, id))
if dm.k and not m.k then
  m.k = dm.k
  redis.call('HSET', K.n, id, cjson.encode(m))
end
redis.call('PUBLISH', ARGV[3], dm.u)
return 1
`,
);

/**
 * ARGV: base, batch, dedupWindowMs. Removes up to `batch` expired notifications (returned as
 * triples), remembered ids and dead letters past retention. Returns { expired, forgotten, deadForgotten }.
 */
export const INBOX_SWEEP = lua(
  'inbox-sweep',
  `
local batch, forget = tonumber(ARGV[2]), now + tonumber(ARGV[3])
local expired = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.exp, '-inf', num(now), 'LIMIT', 0, batch)) do
  redis.call('ZREM', K.exp, id)
  local raw = redis.call('HGET', K.n, id)
  if raw then
    local data = redis.call('HGET', K.d, id)
    remove(id, cjson.decode(raw), false)
    redis.call('ZADD', K.done, num(forget), id)
    table.insert(expired, { id, raw, data })
  end
end
local old = redis.call('ZRANGEBYSCORE', K.done, '-inf', num(now), 'LIMIT', 0, batch)
for _, id in ipairs(old) do redis.call('ZREM', K.done, id) end
local gone = redis.call('ZRANGEBYSCORE', K.deadF, '-inf', num(now), 'LIMIT', 0, batch)
for _, id in ipairs(gone) do
  local raw = redis.call('HGET', K.dead, id)
  if raw then unlinkDead(id, cjson.decode(raw)) else redis.call('ZREM', K.deadF, id) end
  redis.call('HDEL', K.d, id)
end
return { expired, #old, #gone }
`,
);

import { createHash } from 'node:crypto';
import type { Client } from './connection.js';

/**
 * The Lua scripts of RedisBus. Each touches only keys of one room (or one KV key), all passed in
 * KEYS, so every script stays valid on a Redis Cluster (see keys.ts about hash tags).
 *
 * Room state: `meta` is a hash holding `epoch`, `seq` (last durable offset) and `keep` (the
 * history size of the last stored publish). Epoch and offset live in ONE key on purpose: if Redis
 * loses or evicts it, both are lost together and the next writer starts a new epoch, which is
 * how clients learn, truthfully, that history could not be recovered.
 */

/** A script and its SHA1, run with EVALSHA and re-sent with EVAL after Redis lost its script cache. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
  readonly keys: number;
}

function script(name: string, keys: number, source: string): LuaScript {
  return { name, keys, source, sha: createHash('sha1').update(source).digest('hex') };
}

// Shared prologue: read (or create) a room's epoch. A stream left without its meta belongs to a
// lineage that is gone, so it is dropped rather than mixed into the new epoch.
const ROOM_PROLOGUE = `
local meta, log = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
  redis.call('PEXPIRE', meta, ARGV[2])
  redis.call('DEL', log)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

const publishSource = (command: 'PUBLISH' | 'SPUBLISH') => `${ROOM_PROLOGUE}
local mode, size, ttl, dedup_ttl = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if dedup_ttl > 0 and not redis.call('SET', KEYS[3], '1', 'NX', 'PX', dedup_ttl) then
  return { epoch, tonumber(redis.call('HGET', meta, 'seq') or '0'), 1 }
end
local offset
if mode == 'v' then
  offset = tonumber(redis.call('HGET', meta, 'seq') or '0')
else
  offset = redis.call('HINCRBY', meta, 'seq', 1)
  local room_ttl = tonumber(ARGV[2])
  if mode == 'd' then
    local budget, now = tonumber(ARGV[9]), now_ms()
    if budget > 0 then
      -- Byte budget: the stream is trimmed exactly, oldest first, while it is over its bytes or
      -- its size, or its oldest entries have expired; 'bytes' in meta counts the bodies it holds.
      if redis.call('XLEN', log) == 0 then redis.call('HSET', meta, 'bytes', 0) end
      redis.call('XADD', log, offset .. '-0', 'b', ARGV[8], 'x', now + ttl)
      local bytes = redis.call('HINCRBY', meta, 'bytes', #ARGV[8])
      local len, cut, from = redis.call('XLEN', log), nil, '-'
      for _ = 1, 16 do
        local entries = redis.call('XRANGE', log, from, '+', 'COUNT', 64)
        local done = #entries < 64
        for _, entry in ipairs(entries) do
          local fields, body_len, expires = entry[2], 0, 0
          for i = 1, #fields, 2 do
            if fields[i] == 'b' then body_len = #fields[i + 1] elseif fields[i] == 'x' then expires = tonumber(fields[i + 1]) end
          end
          if len <= 1 or not (bytes > budget or len > size or expires <= now) then done = true break end
          bytes, len, cut = bytes - body_len, len - 1, entry[1]
          from = '(' .. entry[1]
        end
        if done then break end
      end
      if cut then redis.call('XTRIM', log, 'MINID', (tonumber(string.match(cut, '^(%d+)')) + 1) .. '-0') end
      redis.call('HSET', meta, 'bytes', bytes)
    else
      redis.call('XADD', log, 'MAXLEN', '~', size, offset .. '-0', 'b', ARGV[8], 'x', now + ttl)
    end
    redis.call('PEXPIRE', log, ttl)
    redis.call('HSET', meta, 'keep', size)
    if ttl > room_ttl then room_ttl = ttl end
  end
  redis.call('PEXPIRE', meta, room_ttl)
end
redis.call('${command}', ARGV[7], offset .. ' ' .. epoch .. ' ' .. ARGV[8])
return { epoch, offset, 0 }
`;

/**
 * Publish: dedup, offset, history, delivery, in one atomic step, so that offsets reach every
 * subscriber in order however many nodes publish to the room.
 *
 * KEYS: meta, log, dedup marker.
 * ARGV: new epoch candidate, room TTL ms, mode ('d' durable + stored, 'n' durable not stored,
 *       'v' volatile), history size, history TTL ms, dedup TTL ms (0: no id), channel, body,
 *       history byte budget (0: none; then MAXLEN ~ size trims lazily).
 * Returns { epoch, offset, duplicate (0|1) }.
 */
export const PUBLISH = script('publish', 3, publishSource('PUBLISH'));

/**
 * {@link PUBLISH} for a Redis Cluster: the same steps, delivered with SPUBLISH (sharded pub/sub,
 * Redis 7), so the message travels only within the shard that owns the room's slot. The room
 * channel carries the room's hash tag, so the script still touches a single slot.
 */
export const SPUBLISH = script('spublish', 3, publishSource('SPUBLISH'));

/**
 * History: the room's position and the live messages after a position, read in one atomic step
 * so that epoch, offset and stream agree. Creates the room's epoch when absent (as a publish
 * would), so that a position handed to a client before the first message stays valid.
 *
 * A message counts as gone when it is expired (its `x` is past), beyond the last `keep` messages
 * (MAXLEN ~ trims lazily, so this keeps the size exact), or was never stored. A position beyond
 * the room's last offset (in the same epoch) proves Redis lost writes: the room gets a new epoch.
 *
 * KEYS: meta, log.
 * ARGV: new epoch candidate, room TTL ms, '1' when a position is given (else '0'), its epoch,
 *       its offset, limit.
 * Returns { epoch, offset, complete (0|1), { offset, body, offset, body, ... } }.
 */
export const HISTORY = script(
  'history',
  2,
  `${ROOM_PROLOGUE}
local seq = tonumber(redis.call('HGET', meta, 'seq') or '0')
local asked_epoch, after, limit = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
if ARGV[3] ~= '1' then return { epoch, seq, 1, {} } end
if asked_epoch ~= epoch then
  if seq == 0 and after == 0 then return { epoch, seq, 1, {} } end
  return { epoch, seq, 0, {} }
end
if after == seq then return { epoch, seq, 1, {} } end
if after > seq then
  -- The asker saw offsets this lineage no longer has: Redis lost acknowledged writes (a replica
  -- promoted before it received them, or a restore from an older snapshot). Offsets after seq
  -- would be handed out a second time, so the lineage ends here: a new epoch, same seq, no history.
  epoch = ARGV[1]
  redis.call('HSET', meta, 'epoch', epoch)
  redis.call('DEL', log)
  return { epoch, seq, 0, {} }
end
local start = after
local floor = seq - tonumber(redis.call('HGET', meta, 'keep') or '0')
if floor > start then start = floor end
local now, out, found = now_ms(), {}, 0
local batch = limit
if batch < 16 then batch = 16 end
-- Bounded: each round moves past 'batch' entries of a stream that MAXLEN keeps finite.
local rounds = math.floor(redis.call('XLEN', log) / batch) + 1
local from = '(' .. start .. '-0'
if start == 0 then from = '-' end
for _ = 1, rounds do
  if found >= limit then break end
  local entries = redis.call('XRANGE', log, from, '+', 'COUNT', batch)
  for _, entry in ipairs(entries) do
    local id, fields = entry[1], entry[2]
    local body, expires = nil, 0
    for i = 1, #fields, 2 do
      if fields[i] == 'b' then body = fields[i + 1] elseif fields[i] == 'x' then expires = tonumber(fields[i + 1]) end
    end
    if expires > now and found < limit then
      found = found + 1
      out[#out + 1] = tonumber(string.match(id, '^(%d+)'))
      out[#out + 1] = body
    end
    from = '(' .. id
  end
  if #entries < batch then break end
end
local complete = 0
if seq - after <= limit and found == seq - after then complete = 1 end
return { epoch, seq, complete, out }
`,
);

/**
 * Fixed-window counter: INCR, and PEXPIRE when the counter is new (or somehow has no expiry).
 *
 * KEYS: counter. ARGV: window ms. Returns the new value.
 */
export const INCREMENT = script(
  'increment',
  1,
  `
local value = redis.call('INCR', KEYS[1])
if value == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return value
`,
);

/**
 * Runs a script with EVALSHA, falling back to EVAL when Redis answers NOSCRIPT (after a restart
 * or SCRIPT FLUSH). Done by hand rather than with `defineCommand` so that a client the user
 * passed in is not modified.
 *
 * @example
 * const value = await runScript(redis, INCREMENT, ['tether:kv:{hits}'], [60_000]);
 */
export async function runScript(
  redis: Client,
  lua: LuaScript,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown> {
  if (keys.length !== lua.keys)
    throw new TypeError(`${lua.name}: expected ${lua.keys} keys, got ${keys.length}`);
  try {
    return await redis.evalsha(lua.sha, lua.keys, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return await redis.eval(lua.source, lua.keys, ...keys, ...args);
  }
}

/**
 * Runs a script, then `WAIT replicas timeoutMs` in the same pipeline, so the WAIT goes to the node
 * that ran the write (on a Cluster the keyed EVALSHA fixes the pipeline's node; keyless WAIT
 * follows it). Resolves with the script's reply and how many replicas confirmed the write.
 */
export async function runScriptAndWait(
  redis: Client,
  lua: LuaScript,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
  replicas: number,
  timeoutMs: number,
): Promise<{ reply: unknown; acked: number }> {
  if (keys.length !== lua.keys)
    throw new TypeError(`${lua.name}: expected ${lua.keys} keys, got ${keys.length}`);
  const attempt = async (useSource: boolean) => {
    const pipeline = redis.pipeline();
    if (useSource) pipeline.eval(lua.source, lua.keys, ...keys, ...args);
    else pipeline.evalsha(lua.sha, lua.keys, ...keys, ...args);
    pipeline.call('WAIT', replicas, timeoutMs);
    const results = (await pipeline.exec()) ?? [];
    const [scriptError, reply] = results[0] ?? [new Error('empty pipeline reply'), undefined];
    if (scriptError) throw scriptError;
    const [waitError, acked] = results[1] ?? [new Error('empty pipeline reply'), 0];
    if (waitError) throw waitError;
    return { reply, acked: Number(acked) };
  };
  try {
    return await attempt(false);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return await attempt(true);
  }
}

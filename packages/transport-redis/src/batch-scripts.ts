/**
 * The batch store's transitions, one Lua script each, so every transition is atomic and costs one round
 * trip. They are a port of the pure transitions in `@thrun/contract` (`startBatch`, `recordStepOutcome`,
 * `cancelBatch`) and of the memory store's outbox, key for key: a batch run through either store
 * produces the same emissions (the shared scenarios in `describeBatchStore` check it).
 *
 * The scripts never decode user data. Job payloads, the shared payload and event names arrive as JSON
 * text the client encoded; the scripts splice that text into the emissions' payloads. So a payload means
 * exactly what `JSON.stringify` wrote (no cjson number rounding, no `[]` turning into `{}`), and a key of
 * the shared payload that a lifecycle field repeats is overridden the way object spread does it: the
 * later key wins when the client parses the emission.
 *
 * Keys (all in one Cluster slot: they share the hash tag `{<keyPrefix>batch}`, so the sweep index can be
 * updated in the same script as the batch it indexes, like the keys of one BullMQ queue):
 *   KEYS[1] state    hash: counters, status, timestamps, failure, the lifecycle's event names (JSON
 *                    strings), the batch id (JSON), the shared payload (its JSON without the braces),
 *                    `static` (the record's immutable fields as JSON, read only by the client), `seq`,
 *                    `gen` (a random id per create: clients cache a batch's jobs, which never change,
 *                    and the scripts send them again only to a client that holds another generation),
 *                    `lease:<index>` (`<until ms>:<token>`: the run lease of a step), `activeAt`
 *   KEYS[2] jobs     list: per job `<event as JSON>\n<its step emission as JSON>` (JSON has no raw newline)
 *   KEYS[3] settled  sorted set: step index → order in which its outcome was recorded
 *   KEYS[4] outbox   hash: emission key → `<10-digit sequence><emission JSON>` (the sequence keeps the
 *                    memory store's insertion order when several emissions are handed out together)
 *   KEYS[5] claims   sorted set: emission key → claimed until (ms, server time; 0 = free)
 *   KEYS[6] due      sorted set shared by every batch, the outbox sweep's index: batch id → the earliest
 *                    claim expiry in its outbox. A batch is in it exactly while its outbox is not empty;
 *                    every script that changes an outbox or its claims updates it atomically.
 *
 * Time is the server's (`TIME`) for claims and timestamps alike, so every process agrees on it.
 */
import { createHash } from 'node:crypto';
import type { Script } from './scripts.js';

function script(name: string, numberOfKeys: number, source: string): Script {
  return { name, numberOfKeys, source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Server time in ms, as an ISO-8601 string too (days → civil date, Howard Hinnant's algorithm). */
const NOW = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function iso(ms)
  local sec = math.floor(ms / 1000)
  local days = math.floor(sec / 86400)
  local rem = sec - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
    math.floor(rem / 3600), math.floor((rem % 3600) / 60), rem % 60, ms % 1000)
end
local nowIso = iso(now)
`;

/**
 * Keeps the sweep index in step with one batch's claims: its earliest claim expiry, or no entry when the
 * outbox is empty. The index member is the batch id, read from the state hash (`idj` is its JSON).
 */
const INDEX = `
local function indexDue(state, claims, due)
  local id = cjson.decode(redis.call('HGET', state, 'idj'))
  local first = redis.call('ZRANGE', claims, 0, 0, 'WITHSCORES')
  if #first == 0 then redis.call('ZREM', due, id) else redis.call('ZADD', due, first[2], id) end
end
`;

/** What every transition shares: the outbox, the claims, the end of a batch and its emissions. */
const LIB = `${NOW}
local S, JOBS, SETTLED, OUTBOX, CLAIMS, DUE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local function field(name)
  local value = redis.call('HGET', S, name)
  if value == false then return nil end
  return value
end
local function add(key, json)
  local seq = redis.call('HINCRBY', S, 'seq', 1)
  redis.call('HSET', OUTBOX, key, string.format('%010d', seq) .. json)
  redis.call('ZADD', CLAIMS, 0, key)
end
local function emission(key, kind, event, payload)
  add(key, '{"key":"' .. key .. '","kind":"' .. kind .. '","event":' .. event .. ',"payload":' .. payload .. '}')
end
local function job(index)
  local entry = redis.call('LINDEX', JOBS, index)
  local cut = string.find(entry, '\\n', 1, true)
  return string.sub(entry, 1, cut - 1), string.sub(entry, cut + 1)
end
local function addStep(index)
  local _, step = job(index)
  add('step:' .. index, step)
end
local function head()
  return '{' .. field('shared') .. '"batch_id":' .. field('idj')
end
local function progress(completed, failed, total)
  local event = field('progressEvent')
  if not event then return end
  local done = completed + failed
  local payload = head() .. ',"completed":' .. completed .. ',"total":' .. total ..
    ',"percent":' .. math.floor(done * 100 / total)
  if failed > 0 then payload = payload .. ',"failed":' .. failed end
  emission('progress:' .. done, 'progress', event, payload .. '}')
end
-- reason, failedJob, err: JSON text for the catch payload, or nil when the batch has no failure.
local function finish(status, failure, reason, failedJob, err)
  redis.call('HSET', S, 'status', status, 'updatedAt', nowIso, 'finishedAt', nowIso)
  if failure then redis.call('HSET', S, 'failure', failure) end
  local completed = tonumber(field('completed'))
  local failed = tonumber(field('failed'))
  local counts = ',"completed":' .. completed .. ',"failed":' .. failed .. ',"total":' .. field('total') .. '}'
  local event = field('thenEvent')
  if status == 'succeeded' and event then emission('then', 'then', event, head() .. counts) end
  event = field('catchEvent')
  if reason and event then
    emission('catch', 'catch', event,
      head() .. ',"reason":' .. reason .. ',"failed_job":' .. failedJob .. ',"error":' .. err .. counts)
  end
  event = field('finallyEvent')
  if event then emission('finally', 'finally', event, head() .. ',"status":"' .. status .. '"' .. counts) end
end
local function expire(retention)
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], retention) end
end
-- Hands out every emission nobody holds a live claim on, in the order they were decided, and claims it.
local function claim(ttl)
  local keys = redis.call('ZRANGEBYSCORE', CLAIMS, '-inf', now)
  local items = {}
  for i = 1, #keys do
    local value = redis.call('HGET', OUTBOX, keys[i])
    if value then
      items[#items + 1] = value
      redis.call('ZADD', CLAIMS, now + ttl, keys[i])
    end
  end
  table.sort(items)
  for i = 1, #items do items[i] = string.sub(items[i], 11) end
  return items
end
${INDEX}
-- The jobs never change after create: a client that holds them for this generation gets false instead.
local function jobsFor(knownGeneration)
  if knownGeneration ~= '' and field('gen') == knownGeneration then return false end
  return redis.call('LRANGE', JOBS, 0, -1)
end
local function snapshot(applied, claimed, knownGeneration)
  indexDue(S, CLAIMS, DUE)
  return { applied, redis.call('HGETALL', S), redis.call('ZRANGE', SETTLED, 0, -1), jobsFor(knownGeneration), claimed }
end
`;

/*
 * batch-create: stores a new batch (replacing one with the same id) and starts it: the first step, or
 * every step in parallel mode, or at once its end when it has no step.
 *   KEYS[1..6] state, jobs, settled, outbox, claims, due
 *   ARGV[1] claim TTL ms   ARGV[2] retention ms   ARGV[3] n = number of state field/value arguments
 *   ARGV[4 .. 3+n] state fields and values   ARGV[4+n] settled indexes, comma-separated
 *   ARGV[5+n] catch reason JSON   ARGV[6+n] catch failed_job JSON   ARGV[7+n] catch error JSON (all three
 *   empty unless the record came with a failure)   ARGV[8+n ..] the jobs, as the jobs list stores them
 *   returns the claimed emissions (JSON strings)
 */
export const batchCreateScript = script(
  'batch-create',
  6,
  `${LIB}
redis.call('DEL', S, JOBS, SETTLED, OUTBOX, CLAIMS)
local n = tonumber(ARGV[3])
for i = 4, 3 + n, 2 do redis.call('HSET', S, ARGV[i], ARGV[i + 1]) end
local order = 0
for index in string.gmatch(ARGV[4 + n], '[^,]+') do
  order = order + 1
  redis.call('ZADD', SETTLED, order, index)
end
for i = 8 + n, #ARGV do redis.call('RPUSH', JOBS, ARGV[i]) end
redis.call('HSET', S, 'status', 'running', 'updatedAt', nowIso)
local total = tonumber(field('total'))
if total == 0 then
  local reason = ARGV[5 + n]
  if reason == '' then reason = nil end
  finish('succeeded', nil, reason, ARGV[6 + n], ARGV[7 + n])
  expire(tonumber(ARGV[2]))
elseif field('mode') == 'parallel' then
  for step = 0, total - 1 do addStep(step) end
else
  addStep(0)
end
local claimed = claim(tonumber(ARGV[1]))
indexDue(S, CLAIMS, DUE)
return claimed`,
);

/*
 * batch-record-step: records a step's final outcome (recordStepOutcome), then claims what is claimable.
 *   KEYS[1..6] state, jobs, settled, outbox, claims, due
 *   ARGV[1] step index   ARGV[2] '1' succeeded, '0' failed   ARGV[3] the error as given (JSON), for the
 *   record's failure   ARGV[4] `{code, message}` (JSON), for the catch payload   ARGV[5] claim TTL ms
 *   ARGV[6] retention ms   ARGV[7] the jobs generation the client holds, or ''
 *   returns {0} for an unknown batch, else { applied 0|1, state (HGETALL), settled, jobs or false when
 *   the client holds them, claimed }
 */
export const batchRecordStepScript = script(
  'batch-record-step',
  6,
  `${LIB}
if redis.call('EXISTS', S) == 0 then return { 0 } end
local index = tonumber(ARGV[1])
local ok = ARGV[2] == '1'
local total = tonumber(field('total'))
local completed = tonumber(field('completed'))
local failed = tonumber(field('failed'))
local mode = field('mode')
local applied = 0
if field('status') == 'running' and index >= 0 and index < total
  and redis.call('ZSCORE', SETTLED, ARGV[1]) == false
  and not (mode == 'sequential' and index ~= completed) then
  applied = 1
  redis.call('ZADD', SETTLED, redis.call('ZCARD', SETTLED) + 1, ARGV[1])
  redis.call('HSET', S, 'updatedAt', nowIso)
  redis.call('HDEL', S, 'lease:' .. ARGV[1])
  if ok then
    completed = redis.call('HINCRBY', S, 'completed', 1)
  else
    failed = redis.call('HINCRBY', S, 'failed', 1)
  end
  local allowed = 0
  if mode ~= 'sequential' then allowed = tonumber(field('allowFailures')) end
  if not ok and failed > allowed then
    local event = job(index)
    local failedJob = '{"event":' .. event .. ',"index":' .. index .. '}'
    finish('failed', '{"reason":"failed","job":' .. failedJob .. ',"error":' .. ARGV[3] .. '}',
      '"failed"', failedJob, ARGV[4])
    expire(tonumber(ARGV[6]))
  else
    progress(completed, failed, total)
    if completed + failed == total then
      finish('succeeded', nil)
      expire(tonumber(ARGV[6]))
    elseif mode == 'sequential' then
      addStep(index + 1)
    end
  end
end
return snapshot(applied, claim(tonumber(ARGV[5])), ARGV[7])`,
);

/*
 * batch-cancel: cancels a batch that has not ended (cancelBatch): catch (reason cancelled) and finally.
 *   KEYS[1..6] state, jobs, settled, outbox, claims, due
 *   ARGV[1] claim TTL ms   ARGV[2] retention ms   ARGV[3] the jobs generation the client holds, or ''
 *   returns {0} for an unknown batch, else { applied 0|1, state (HGETALL), settled, jobs or false, claimed }
 */
export const batchCancelScript = script(
  'batch-cancel',
  6,
  `${LIB}
if redis.call('EXISTS', S) == 0 then return { 0 } end
local status = field('status')
local applied = 0
if status ~= 'succeeded' and status ~= 'failed' and status ~= 'cancelled' then
  applied = 1
  local err = '{"code":"cancelled","message":"batch cancelled"}'
  finish('cancelled', '{"reason":"cancelled","error":' .. err .. '}', '"cancelled"', 'null', err)
  expire(tonumber(ARGV[2]))
end
return snapshot(applied, claim(tonumber(ARGV[1])), ARGV[3])`,
);

/*
 * batch-get: reads a batch.
 *   KEYS[1..3] state, jobs, settled
 *   ARGV[1] the jobs generation the client holds, or ''
 *   returns {0} for an unknown (or expired) batch, else { 1, state (HGETALL), settled, jobs or false }
 */
export const batchGetScript = script(
  'batch-get',
  3,
  `if redis.call('EXISTS', KEYS[1]) == 0 then return { 0 } end
local jobs = false
if ARGV[1] == '' or redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then jobs = redis.call('LRANGE', KEYS[2], 0, -1) end
return { 1, redis.call('HGETALL', KEYS[1]), redis.call('ZRANGE', KEYS[3], 0, -1), jobs }`,
);

/*
 * batch-mark-emitted: forgets published emissions.
 *   KEYS[1] state   KEYS[2] outbox   KEYS[3] claims   KEYS[4] due
 *   ARGV emission keys
 *   returns the number of emissions forgotten
 */
export const batchMarkEmittedScript = script(
  'batch-mark-emitted',
  4,
  `${INDEX}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local removed = 0
for i = 1, #ARGV do
  removed = removed + redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('ZREM', KEYS[3], ARGV[i])
end
indexDue(KEYS[1], KEYS[3], KEYS[4])
return removed`,
);

/*
 * batch-release: gives claimed emissions back, so the next transition attempt (or the sweep) takes them
 * at once.
 *   KEYS[1] state   KEYS[2] claims   KEYS[3] due
 *   ARGV emission keys
 *   returns the number of emissions released (keys not in the outbox are ignored, never created)
 */
export const batchReleaseScript = script(
  'batch-release',
  3,
  `${INDEX}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local released = 0
for i = 1, #ARGV do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) then
    redis.call('ZADD', KEYS[2], 0, ARGV[i])
    released = released + 1
  end
end
indexDue(KEYS[1], KEYS[2], KEYS[3])
return released`,
);

/*
 * batch-sweep: the outbox sweep. At most one per `lock ms` across every worker (`SET NX PX`, like
 * BullMQ's stalled-job checker); finds the batches whose earliest claim expired through the due index,
 * claims their claimable emissions and moves each batch's index entry to its next claim expiry.
 *   KEYS[1] due   KEYS[2] sweep lock
 *   ARGV[1] the key tag (`{<keyPrefix>batch}`)   ARGV[2] claim TTL ms   ARGV[3] at most this many batches
 *   ARGV[4] lock ms
 *   returns false when another worker swept less than `lock ms` ago, else a flat list of
 *   { batch id, its immutable fields (JSON), { claimed emissions } } per batch that had something
 */
export const batchSweepScript = script(
  'batch-sweep',
  2,
  `${NOW}
${INDEX}
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then return false end
local ttl = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local found = {}
for i = 1, #ids do
  local base = ARGV[1] .. ':' .. ids[i] .. ':'
  local state, outbox, claims = base .. 'state', base .. 'outbox', base .. 'claims'
  if redis.call('EXISTS', state) == 0 then
    redis.call('ZREM', KEYS[1], ids[i])
  else
    local keys = redis.call('ZRANGEBYSCORE', claims, '-inf', now)
    local items = {}
    for j = 1, #keys do
      local value = redis.call('HGET', outbox, keys[j])
      if value then
        items[#items + 1] = value
        redis.call('ZADD', claims, now + ttl, keys[j])
      else
        redis.call('ZREM', claims, keys[j])
      end
    end
    table.sort(items)
    for j = 1, #items do items[j] = string.sub(items[j], 11) end
    indexDue(state, claims, KEYS[1])
    if #items > 0 then
      found[#found + 1] = ids[i]
      found[#found + 1] = redis.call('HGET', state, 'static')
      found[#found + 1] = items
    end
  end
end
return found`,
);

/*
 * batch-step-start: takes the run lease of a step.
 *   KEYS[1] state   KEYS[2] settled
 *   ARGV[1] step index   ARGV[2] token   ARGV[3] lease ms
 *   returns 'run', 'busy' (another live lease), 'settled', 'ended' (the batch runs no more steps) or 'unknown'
 */
export const batchStepStartScript = script(
  'batch-step-start',
  2,
  `${NOW}
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 'settled' end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 'ended' end
local field = 'lease:' .. ARGV[1]
local lease = redis.call('HGET', KEYS[1], field)
if lease then
  local cut = string.find(lease, ':', 1, true)
  if tonumber(string.sub(lease, 1, cut - 1)) > now and string.sub(lease, cut + 1) ~= ARGV[2] then return 'busy' end
end
redis.call('HSET', KEYS[1], field, (now + tonumber(ARGV[3])) .. ':' .. ARGV[2], 'activeAt', nowIso)
return 'run'`,
);

/*
 * batch-step-renew: extends (ARGV[3] = lease ms) or, with ARGV[3] = '0', ends a lease the caller holds.
 *   KEYS[1] state
 *   ARGV[1] step index   ARGV[2] token   ARGV[3] lease ms, or '0' to end it
 *   returns 1 when the caller held the lease, else 0
 */
export const batchStepRenewScript = script(
  'batch-step-renew',
  1,
  `${NOW}
local field = 'lease:' .. ARGV[1]
local lease = redis.call('HGET', KEYS[1], field)
if not lease then return 0 end
local cut = string.find(lease, ':', 1, true)
if string.sub(lease, cut + 1) ~= ARGV[2] then return 0 end
if ARGV[3] == '0' then
  redis.call('HDEL', KEYS[1], field)
else
  redis.call('HSET', KEYS[1], field, (now + tonumber(ARGV[3])) .. ':' .. ARGV[2], 'activeAt', nowIso)
end
return 1`,
);

--[[
batch-lib: what every batch transition shares: the outbox, the claims, the end of a batch and its
emissions. The batch scripts are a port of the pure transitions in `@thrun/contract` (`startBatch`,
`recordStepOutcome`, `cancelBatch`) and of the memory store's outbox, key for key: a batch run
through either store produces the same emissions.

The scripts never decode user data. Job payloads, the shared payload and event names arrive as JSON
text the client encoded; the scripts splice that text into the emissions' payloads. So a payload means
exactly what `JSON.stringify` wrote (no cjson number rounding, no `[]` turning into `{}`), and a key
of the shared payload that a lifecycle field repeats is overridden the way object spread does it: the
later key wins when the client parses the emission.

Keys (all in one Cluster slot: they share the hash tag `{<keyPrefix>batch}`, so the sweep index can
be updated in the same script as the batch it indexes):
  KEYS[1] state    hash: counters, status, timestamps, failure, the lifecycle's event names (JSON
                   strings), the batch id (JSON), the shared payload (its JSON without the braces),
                   `static` (the record's immutable fields as JSON, read only by the client), `seq`,
                   `gen` (a random id per create: clients cache a batch's jobs, which never change,
                   and the scripts send them again only to a client that holds another generation),
                   `lease:<index>` (`<until ms>:<token>`: the run lease of a step), `activeAt`
  KEYS[2] jobs     list: per job `<event as JSON>\n<its step emission as JSON>` (JSON has no raw newline)
  KEYS[3] settled  sorted set: step index → order in which its outcome was recorded
  KEYS[4] outbox   hash: emission key → `<10-digit sequence><emission JSON>` (the sequence keeps the
                   memory store's insertion order when several emissions are handed out together)
  KEYS[5] claims   sorted set: emission key → claimed until (ms, server time; 0 = free)
  KEYS[6] due      sorted set shared by every batch, the outbox sweep's index: batch id → the earliest
                   claim expiry in its outbox. A batch is in it exactly while its outbox is not empty;
                   every script that changes an outbox or its claims updates it atomically.
Defines S, JOBS, SETTLED, OUTBOX, CLAIMS, DUE (KEYS[1..6]), `now`, `nowIso` and the helpers below.
]]
--- @include now-iso

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
  local cut = string.find(entry, '\n', 1, true)
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

--- @include batch-index

-- The jobs never change after create: a client that holds them for this generation gets false instead.
local function jobsFor(knownGeneration)
  if knownGeneration ~= '' and field('gen') == knownGeneration then return false end
  return redis.call('LRANGE', JOBS, 0, -1)
end
local function snapshot(applied, claimed, knownGeneration)
  indexDue(S, CLAIMS, DUE)
  return { applied, redis.call('HGETALL', S), redis.call('ZRANGE', SETTLED, 0, -1), jobsFor(knownGeneration), claimed }
end

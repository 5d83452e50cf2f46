/**
 * Every state transition of a message is one of these Lua scripts, so it is atomic and costs one round
 * trip. Each header says what the script reads and writes (KEYS), what it is given (ARGV) and what it
 * returns, in the manner of BullMQ's `commands/*.lua`.
 *
 * Time always comes from Redis (`TIME`), never from the client, so leases and delays mean the same
 * thing to every process whatever its clock says. Scripts build no key names from message data; the
 * only key built inside a script is a dead consumer's processing list in `reap`, from a prefix that
 * carries the queue's hash tag, so it lives in the same cluster slot as the declared keys.
 */
import { createHash } from 'node:crypto';

export interface Script {
  readonly name: string;
  readonly numberOfKeys: number;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, numberOfKeys: number, source: string): Script {
  return { name, numberOfKeys, source, sha: createHash('sha1').update(source).digest('hex') };
}

const NOW = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;

/** Delayed members are `<16-character id>:<body>`: the id keeps equal bodies apart in the sorted set. */
export const DELAYED_ID_LENGTH = 16;

/*
 * schedule: holds messages back until they are due.
 *   KEYS[1] the delayed sorted set
 *   ARGV[1] delay in ms; ARGV[2..n] members (`<id>:<body>`)
 *   returns the number of members added
 */
export const scheduleScript = script(
  'schedule',
  1,
  `${NOW}
local due = now + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], due, ARGV[i])
end
return #ARGV - 1`,
);

/*
 * list-fetch: renews this consumer's lease, moves due delayed messages to the queue, takes what a
 * blocking BLMOVE left in this consumer's landing list, then moves up to ARGV[1] messages in all from
 * the right (oldest) end of the queue into its processing list, but no more than its fair share
 * (queue length / live consumers, at least 1).
 *   KEYS[1] queue list   KEYS[2] processing list   KEYS[3] attempts hash   KEYS[4] delayed zset
 *   KEYS[5] consumer leases zset   KEYS[6] landing list (BLMOVE's destination)
 *   ARGV[1] how many to take   ARGV[2] consumer id   ARGV[3] lease in ms
 *   returns { {body, attempt, body, attempt, …}, ms until the next delayed message is due or -1 }
 * The attempt is 1 + the deliveries recorded in the attempts hash (SHA-1 of the body → count). The hash
 * only holds messages that came back (retry, expired lease), so the common path hashes nothing.
 * Sent right behind a BLMOVE on the same connection, it hands over the message that woke the consumer
 * in the same round trip.
 */
export const listFetchScript = script(
  'list-fetch',
  6,
  `${NOW}
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[3]), ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 1000)
for i = 1, #due do
  redis.call('LPUSH', KEYS[1], string.sub(due[i], ${DELAYED_ID_LENGTH + 2}))
  redis.call('ZREM', KEYS[4], due[i])
end
local counted = redis.call('HLEN', KEYS[3]) > 0
local out = {}
local function add(body)
  local seen = 0
  if counted then
    seen = tonumber(redis.call('HGET', KEYS[3], redis.sha1hex(body)) or '0')
  end
  out[#out + 1] = body
  out[#out + 1] = seen + 1
end
local taken = 0
while true do
  local body = redis.call('LMOVE', KEYS[6], KEYS[2], 'RIGHT', 'LEFT')
  if not body then break end
  add(body)
  taken = taken + 1
end
-- Take a fair share: a deep queue is read in batches, a shallow one is left to the other consumers.
local consumers = math.max(1, redis.call('ZCARD', KEYS[5]))
local share = math.ceil(redis.call('LLEN', KEYS[1]) / consumers)
for _ = 1, math.min(tonumber(ARGV[1]) - taken, math.max(1, share)) do
  local body = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not body then break end
  add(body)
end
local nextDue = -1
local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if first[2] then nextDue = math.max(0, tonumber(first[2]) - now) end
return { out, nextDue }`,
);

/*
 * list-ack: removes a settled message from the processing list and forgets its attempts.
 *   KEYS[1] processing list   KEYS[2] attempts hash
 *   ARGV[1] body
 *   returns 1 when it was still there, 0 when an expired lease had already returned it to the queue
 */
export const listAckScript = script(
  'list-ack',
  2,
  `local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed > 0 and redis.call('HLEN', KEYS[2]) > 0 then
  redis.call('HDEL', KEYS[2], redis.sha1hex(ARGV[1]))
end
return removed`,
);

/*
 * list-retry: counts a failed delivery and puts the message back, at the tail of the queue (so it
 * blocks nothing behind it) or into the delayed set.
 *   KEYS[1] processing list   KEYS[2] attempts hash   KEYS[3] queue list   KEYS[4] delayed zset
 *   ARGV[1] body   ARGV[2] delay in ms   ARGV[3] a ${DELAYED_ID_LENGTH}-character id for the delayed member
 *   returns 1, or 0 when an expired lease had already returned it (and counted the attempt)
 */
export const listRetryScript = script(
  'list-retry',
  4,
  `${NOW}
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], redis.sha1hex(ARGV[1]), 1)
local delay = tonumber(ARGV[2])
if delay > 0 then
  redis.call('ZADD', KEYS[4], now + delay, ARGV[3] .. ':' .. ARGV[1])
else
  redis.call('LPUSH', KEYS[3], ARGV[1])
end
return 1`,
);

/*
 * list-dead-letter: replaces a message by its dead letter (a frame) in the dead-letter list.
 *   KEYS[1] processing list   KEYS[2] attempts hash   KEYS[3] dead-letter list (`<queue>.dead`)
 *   ARGV[1] body   ARGV[2] the dead letter (contract's encodeDeadLetterFrame)
 *   returns 1, or 0 when an expired lease had already returned it to the queue; an error reply when
 *   the dead-letter key holds another type (checked first: a script that fails half-way keeps its
 *   earlier writes, and the message would be gone from both lists)
 */
export const listDeadLetterScript = script(
  'list-dead-letter',
  3,
  `local deadType = redis.call('TYPE', KEYS[3])['ok']
if deadType ~= 'list' and deadType ~= 'none' then
  return redis.error_reply('WRONGTYPE the dead-letter key ' .. KEYS[3] .. ' holds a ' .. deadType)
end
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed == 0 then return 0 end
if redis.call('HLEN', KEYS[2]) > 0 then
  redis.call('HDEL', KEYS[2], redis.sha1hex(ARGV[1]))
end
redis.call('LPUSH', KEYS[3], ARGV[2])
return 1`,
);

/*
 * list-reap: renews the caller's lease (when ARGV[2] is set), then returns every message of consumers
 * whose lease expired to the right (next-out) end of the queue, oldest last-out, and forgets those
 * consumers. Messages from a processing list count an attempt; one still in a landing list was never
 * handed to a handler and does not.
 *   KEYS[1] queue list   KEYS[2] consumer leases zset   KEYS[3] attempts hash
 *   ARGV[1] processing-list key prefix (a consumer id completes it)   ARGV[2] caller's consumer id or ''
 *   ARGV[3] lease in ms   ARGV[4] landing-list key prefix
 *   returns the number of messages returned to the queue
 */
export const listReapScript = script(
  'list-reap',
  3,
  `${NOW}
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2]) end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
local moved = 0
for _, id in ipairs(expired) do
  while redis.call('LMOVE', ARGV[4] .. id, KEYS[1], 'LEFT', 'RIGHT') do moved = moved + 1 end
  local processing = ARGV[1] .. id
  while true do
    local body = redis.call('LMOVE', processing, KEYS[1], 'LEFT', 'RIGHT')
    if not body then break end
    redis.call('HINCRBY', KEYS[3], redis.sha1hex(body), 1)
    moved = moved + 1
  end
  redis.call('ZREM', KEYS[2], id)
end
return moved`,
);

/*
 * list-release: a consumer closing hands back what it holds: the messages whose handlers started count
 * an attempt, prefetched ones that never started do not; all go back to the next-out end of the queue
 * in their original order (the landing list holds the newest), and the consumer's lease is removed.
 *   KEYS[1] processing list   KEYS[2] queue list   KEYS[3] attempts hash   KEYS[4] consumer leases zset
 *   KEYS[5] landing list
 *   ARGV[1] consumer id   ARGV[2..n] bodies of started, unsettled deliveries
 *   returns the number of messages returned
 */
export const listReleaseScript = script(
  'list-release',
  5,
  `for i = 2, #ARGV do
  redis.call('HINCRBY', KEYS[3], redis.sha1hex(ARGV[i]), 1)
end
local moved = 0
while redis.call('LMOVE', KEYS[5], KEYS[2], 'LEFT', 'RIGHT') do moved = moved + 1 end
while true do
  local body = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not body then break end
  moved = moved + 1
end
redis.call('ZREM', KEYS[4], ARGV[1])
return moved`,
);

/*
 * list-purge: removes every waiting and delayed message of a queue.
 *   KEYS[1] queue list   KEYS[2] delayed zset
 *   returns how many were removed
 */
export const listPurgeScript = script(
  'list-purge',
  2,
  `local n = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return n`,
);

/*
 * stream-claim: everything a stream consumer takes besides new entries, in one round trip:
 * (1) delayed publishes that are due are appended to the stream; (2) this group's retries that are due
 * are claimed by this consumer; (3) entries pending longer than the visibility timeout (their consumer
 * died) are claimed, skipping entries parked for a delayed retry. XCLAIM raises the delivery count,
 * which is the attempt. (XAUTOCLAIM cannot skip parked retries, hence XPENDING IDLE + XCLAIM.)
 *   KEYS[1] stream   KEYS[2] this group's retry zset (entry id → due)   KEYS[3] delayed-publish zset
 *   ARGV[1] group   ARGV[2] consumer   ARGV[3] how many to claim at most   ARGV[4] visibility timeout ms
 *   returns { {id, fields, attempt, …}, ms until the next retry or delayed publish is due or -1 }
 */
export const streamClaimScript = script(
  'stream-claim',
  3,
  `${NOW}
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
for i = 1, #due do
  redis.call('XADD', KEYS[1], '*', 'b', string.sub(due[i], ${DELAYED_ID_LENGTH + 2}))
  redis.call('ZREM', KEYS[3], due[i])
end
local limit = tonumber(ARGV[3])
local out = {}
local function claim(id, minIdle)
  local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], minIdle, id)
  local entry = claimed[1]
  if not entry or not entry[2] then
    -- The entry is gone from the stream (purged): nothing left to deliver.
    redis.call('XACK', KEYS[1], ARGV[1], id)
    return
  end
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  out[#out + 1] = entry[1]
  out[#out + 1] = entry[2]
  out[#out + 1] = pending[1][4]
end
local retries = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for i = 1, #retries do
  redis.call('ZREM', KEYS[2], retries[i])
  claim(retries[i], 0)
end
local room = limit - #out / 3
if room > 0 then
  local scan = room + redis.call('ZCARD', KEYS[2])
  local stale = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', tonumber(ARGV[4]), '-', '+', scan)
  for i = 1, #stale do
    if room <= 0 then break end
    if not redis.call('ZSCORE', KEYS[2], stale[i][1]) then
      claim(stale[i][1], tonumber(ARGV[4]))
      room = limit - #out / 3
    end
  end
end
local nextDue = -1
for _, key in ipairs({ KEYS[2], KEYS[3] }) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then
    local wait = math.max(0, tonumber(first[2]) - now)
    if nextDue < 0 or wait < nextDue then nextDue = wait end
  end
end
return { out, nextDue }`,
);

/*
 * stream-retry: parks a pending entry until it is due again (it stays pending for this group).
 *   KEYS[1] this group's retry zset
 *   ARGV[1] entry id   ARGV[2] delay in ms
 *   returns 1
 */
export const streamRetryScript = script(
  'stream-retry',
  1,
  `${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1`,
);

/*
 * stream-dead-letter: acknowledges an entry for this group and appends its dead letter to the
 * dead-letter stream.
 *   KEYS[1] stream   KEYS[2] dead-letter stream (`<queue>.dead`)
 *   ARGV[1] group   ARGV[2] entry id   ARGV[3] the dead letter (a frame)
 *   returns 1, or 0 when the entry was no longer pending (settled or purged already); an error reply
 *   when the dead-letter key holds another type (checked before the XACK, which would stay applied)
 */
export const streamDeadLetterScript = script(
  'stream-dead-letter',
  2,
  `local deadType = redis.call('TYPE', KEYS[2])['ok']
if deadType ~= 'stream' and deadType ~= 'none' then
  return redis.error_reply('WRONGTYPE the dead-letter key ' .. KEYS[2] .. ' holds a ' .. deadType)
end
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'b', ARGV[3])
return 1`,
);

/*
 * stream-trim: drops entries every group is done with, and only those. For each group, the first entry
 * still needed is its oldest pending entry, or the one after its last-delivered id; the stream is
 * trimmed (XTRIM MINID) below the smallest of these. A stream without groups is never trimmed.
 *   KEYS[1] stream
 *   returns the number of entries removed
 */
export const streamTrimScript = script(
  'stream-trim',
  1,
  `local function parse(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local function less(a, b)
  local ams, aseq = parse(a)
  local bms, bseq = parse(b)
  return ams < bms or (ams == bms and aseq < bseq)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return 0 end
local floor = nil
for _, group in ipairs(groups) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  local needed = info['last-delivered-id']
  if tonumber(info['pending']) > 0 then
    local summary = redis.call('XPENDING', KEYS[1], info['name'])
    if less(summary[2], needed) then needed = summary[2] end
  end
  if floor == nil or less(needed, floor) then floor = needed end
end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)`,
);

/*
 * stream-reclaim: an immediate retry. This consumer claims the entry again, which raises its delivery
 * count (the next attempt), and gets it back to run.
 *   KEYS[1] stream
 *   ARGV[1] group   ARGV[2] consumer   ARGV[3] entry id
 *   returns {id, fields, attempt}, or an empty array when the entry is gone
 */
export const streamReclaimScript = script(
  'stream-reclaim',
  1,
  `local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3])
local entry = claimed[1]
if not entry or not entry[2] then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
  return {}
end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
return { entry[1], entry[2], pending[1][4] }`,
);

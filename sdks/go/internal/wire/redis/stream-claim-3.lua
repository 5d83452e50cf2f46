--[[
stream-claim: everything a stream consumer takes besides new entries, in one round trip:
(1) delayed publishes that are due are appended to the stream (field `b`); (2) this group's retries
that are due are claimed by this consumer; (3) entries pending longer than the visibility timeout
(their consumer died) are claimed, skipping entries parked for a delayed retry. XCLAIM raises the
delivery count, which is the attempt. (XAUTOCLAIM cannot skip parked retries, hence XPENDING IDLE +
XCLAIM.) An entry gone from the stream (purged) is acknowledged and not returned.
A delayed member is `<16-character id>:<body>`: its body starts at character 18.
  KEYS[1] stream   KEYS[2] this group's retry zset (entry id → due)   KEYS[3] delayed-publish zset
  ARGV[1] group   ARGV[2] consumer   ARGV[3] how many to claim at most   ARGV[4] visibility timeout ms
Returns { {id, fields, attempt, …}, ms until the next retry or delayed publish is due or -1 }.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include now

local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
for i = 1, #due do
  redis.call('XADD', KEYS[1], '*', 'b', string.sub(due[i], 18))
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
return { out, nextDue }

--[[
list-fetch: renews this consumer's lease, moves due delayed messages to the queue, takes what a
blocking BLMOVE left in this consumer's landing list, then moves up to ARGV[1] messages in all from
the right (oldest) end of the queue into its processing list, but no more than its fair share
(queue length / live consumers, at least 1).
  KEYS[1] queue list   KEYS[2] processing list   KEYS[3] attempts hash   KEYS[4] delayed zset
  KEYS[5] consumer leases zset   KEYS[6] landing list (BLMOVE's destination)
  ARGV[1] how many to take   ARGV[2] consumer id   ARGV[3] lease in ms
Returns { {body, attempt, body, attempt, …}, ms until the next delayed message is due or -1 }.
The attempt is 1 + the deliveries recorded in the attempts hash (SHA-1 of the body → count). The hash
only holds messages that came back (retry, expired lease), so the common path hashes nothing.
A delayed member is `<16-character id>:<body>`: its body starts at character 18.
Sent right behind a BLMOVE on the same connection, it hands over the message that woke the consumer
in the same round trip.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include now

redis.call('ZADD', KEYS[5], now + tonumber(ARGV[3]), ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 1000)
for i = 1, #due do
  redis.call('LPUSH', KEYS[1], string.sub(due[i], 18))
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
return { out, nextDue }

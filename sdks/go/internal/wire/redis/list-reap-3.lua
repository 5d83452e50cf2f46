--[[
list-reap: renews the caller's lease (when ARGV[2] is set), then returns every message of consumers
whose lease expired to the right (next-out) end of the queue, the oldest next-out, and forgets those
consumers. Messages from a processing list count an attempt; one still in a landing list was never
handed to a handler and does not.
It builds a dead consumer's processing and landing list keys from prefixes that carry the queue's
hash tag, so they live in the same cluster slot as the declared keys.
  KEYS[1] queue list   KEYS[2] consumer leases zset   KEYS[3] attempts hash
  ARGV[1] processing-list key prefix (a consumer id completes it)   ARGV[2] caller's consumer id or ''
  ARGV[3] lease in ms   ARGV[4] landing-list key prefix
Returns the number of messages returned to the queue.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include now

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
return moved

--[[
list-retry: counts a failed delivery and puts the message back, at the tail of the queue (so it
blocks nothing behind it) or into the delayed set.
  KEYS[1] processing list   KEYS[2] attempts hash   KEYS[3] queue list   KEYS[4] delayed zset
  ARGV[1] body   ARGV[2] delay in ms   ARGV[3] a 16-character id for the delayed member
Returns 1, or 0 when an expired lease had already returned it (and counted the attempt).
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include now

local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], redis.sha1hex(ARGV[1]), 1)
local delay = tonumber(ARGV[2])
if delay > 0 then
  redis.call('ZADD', KEYS[4], now + delay, ARGV[3] .. ':' .. ARGV[1])
else
  redis.call('LPUSH', KEYS[3], ARGV[1])
end
return 1

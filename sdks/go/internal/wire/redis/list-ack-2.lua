--[[
list-ack: removes a settled message from the processing list and forgets its attempts.
  KEYS[1] processing list   KEYS[2] attempts hash
  ARGV[1] body
Returns 1 when it was still there, 0 when an expired lease had already returned it to the queue.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed > 0 and redis.call('HLEN', KEYS[2]) > 0 then
  redis.call('HDEL', KEYS[2], redis.sha1hex(ARGV[1]))
end
return removed

--[[
list-ack: removes settled messages from the processing list and forgets their attempts.
  KEYS[1] processing list   KEYS[2] attempts hash
  ARGV[1] body   ARGV[2…] more bodies (optional): one call settles a batch, one copy removed per body
Returns how many bodies were still there; for one body, 1, or 0 when an expired lease had already
returned it to the queue. A batch does the same as one call per body, in order.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]
local counted = redis.call('HLEN', KEYS[2]) > 0
local removed = 0
for i = 1, #ARGV do
  if redis.call('LREM', KEYS[1], -1, ARGV[i]) > 0 then
    removed = removed + 1
    if counted then redis.call('HDEL', KEYS[2], redis.sha1hex(ARGV[i])) end
  end
end
return removed

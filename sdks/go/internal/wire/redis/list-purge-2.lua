--[[
list-purge: removes every waiting and delayed message of a queue.
  KEYS[1] queue list   KEYS[2] delayed zset
Returns how many were removed.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]
local n = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return n

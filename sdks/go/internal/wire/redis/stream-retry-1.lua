--[[
stream-retry: parks a pending entry until it is due again (it stays pending for this group).
  KEYS[1] this group's retry zset
  ARGV[1] entry id   ARGV[2] delay in ms
Returns 1.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include now

redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1

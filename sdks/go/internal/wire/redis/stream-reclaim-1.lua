--[[
stream-reclaim: an immediate retry. This consumer claims the entry again, which raises its delivery
count (the next attempt), and gets it back to run.
  KEYS[1] stream
  ARGV[1] group   ARGV[2] consumer   ARGV[3] entry id
Returns {id, fields, attempt}, or an empty array when the entry is gone (it is acknowledged).
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]
local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3])
local entry = claimed[1]
if not entry or not entry[2] then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
  return {}
end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
return { entry[1], entry[2], pending[1][4] }

--[[
batch-mark-emitted: forgets published emissions.
  KEYS[1] state   KEYS[2] outbox   KEYS[3] claims   KEYS[4] due (see includes/batch-lib.lua)
  ARGV[1..n] emission keys
Returns the number of emissions forgotten (0 for an unknown batch).
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include batch-index

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local removed = 0
for i = 1, #ARGV do
  removed = removed + redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('ZREM', KEYS[3], ARGV[i])
end
indexDue(KEYS[1], KEYS[3], KEYS[4])
return removed

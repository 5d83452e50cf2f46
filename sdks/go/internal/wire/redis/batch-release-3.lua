--[[
batch-release: gives claimed emissions back, so the next transition attempt (or the sweep) takes them
at once.
  KEYS[1] state   KEYS[2] claims   KEYS[3] due (see includes/batch-lib.lua)
  ARGV[1..n] emission keys
Returns the number of emissions released (keys not in the outbox are ignored, never created; 0 for an
unknown batch).
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include batch-index

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local released = 0
for i = 1, #ARGV do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) then
    redis.call('ZADD', KEYS[2], 0, ARGV[i])
    released = released + 1
  end
end
indexDue(KEYS[1], KEYS[2], KEYS[3])
return released

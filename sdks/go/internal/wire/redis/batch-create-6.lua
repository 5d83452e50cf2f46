--[[
batch-create: stores a new batch (replacing one with the same id) and starts it: the first step, or
every step in parallel mode, or at once its end when it has no step.
  KEYS[1..6] state, jobs, settled, outbox, claims, due (see includes/batch-lib.lua)
  ARGV[1] claim TTL ms   ARGV[2] retention ms   ARGV[3] n = number of state field/value arguments
  ARGV[4 .. 3+n] state fields and values   ARGV[4+n] settled indexes, comma-separated
  ARGV[5+n] catch reason JSON   ARGV[6+n] catch failed_job JSON   ARGV[7+n] catch error JSON (all three
  empty unless the record came with a failure)   ARGV[8+n ..] the jobs, as the jobs list stores them
Returns the claimed emissions (JSON strings).
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include batch-lib

redis.call('DEL', S, JOBS, SETTLED, OUTBOX, CLAIMS)
local n = tonumber(ARGV[3])
for i = 4, 3 + n, 2 do redis.call('HSET', S, ARGV[i], ARGV[i + 1]) end
local order = 0
for index in string.gmatch(ARGV[4 + n], '[^,]+') do
  order = order + 1
  redis.call('ZADD', SETTLED, order, index)
end
for i = 8 + n, #ARGV do redis.call('RPUSH', JOBS, ARGV[i]) end
redis.call('HSET', S, 'status', 'running', 'updatedAt', nowIso)
local total = tonumber(field('total'))
if total == 0 then
  local reason = ARGV[5 + n]
  if reason == '' then reason = nil end
  finish('succeeded', nil, reason, ARGV[6 + n], ARGV[7 + n])
  expire(tonumber(ARGV[2]))
elseif field('mode') == 'parallel' then
  for step = 0, total - 1 do addStep(step) end
else
  addStep(0)
end
local claimed = claim(tonumber(ARGV[1]))
indexDue(S, CLAIMS, DUE)
return claimed

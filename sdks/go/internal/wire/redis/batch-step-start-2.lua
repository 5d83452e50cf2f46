--[[
batch-step-start: takes the run lease of a step.
  KEYS[1] state   KEYS[2] settled (see includes/batch-lib.lua)
  ARGV[1] step index   ARGV[2] token   ARGV[3] lease ms
Returns 'run', 'busy' (another live lease), 'settled', 'ended' (the batch runs no more steps) or
'unknown'.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include now-iso

if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 'settled' end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 'ended' end
local field = 'lease:' .. ARGV[1]
local lease = redis.call('HGET', KEYS[1], field)
if lease then
  local cut = string.find(lease, ':', 1, true)
  if tonumber(string.sub(lease, 1, cut - 1)) > now and string.sub(lease, cut + 1) ~= ARGV[2] then return 'busy' end
end
redis.call('HSET', KEYS[1], field, (now + tonumber(ARGV[3])) .. ':' .. ARGV[2], 'activeAt', nowIso)
return 'run'

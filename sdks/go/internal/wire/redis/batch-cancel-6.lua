--[[
batch-cancel: cancels a batch that has not ended (cancelBatch): catch (reason cancelled) and finally.
  KEYS[1..6] state, jobs, settled, outbox, claims, due (see includes/batch-lib.lua)
  ARGV[1] claim TTL ms   ARGV[2] retention ms   ARGV[3] the jobs generation the client holds, or ''
Returns {0} for an unknown batch, else { applied 0|1, state (HGETALL), settled, jobs or false, claimed }.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include batch-lib

if redis.call('EXISTS', S) == 0 then return { 0 } end
local status = field('status')
local applied = 0
if status ~= 'succeeded' and status ~= 'failed' and status ~= 'cancelled' then
  applied = 1
  local err = '{"code":"cancelled","message":"batch cancelled"}'
  finish('cancelled', '{"reason":"cancelled","error":' .. err .. '}', '"cancelled"', 'null', err)
  expire(tonumber(ARGV[2]))
end
return snapshot(applied, claim(tonumber(ARGV[1])), ARGV[3])

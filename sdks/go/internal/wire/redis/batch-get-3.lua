--[[
batch-get: reads a batch.
  KEYS[1..3] state, jobs, settled (see includes/batch-lib.lua)
  ARGV[1] the jobs generation the client holds, or ''
Returns {0} for an unknown (or expired) batch, else { 1, state (HGETALL), settled, jobs or false }.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return { 0 } end
local jobs = false
if ARGV[1] == '' or redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then jobs = redis.call('LRANGE', KEYS[2], 0, -1) end
return { 1, redis.call('HGETALL', KEYS[1]), redis.call('ZRANGE', KEYS[3], 0, -1), jobs }

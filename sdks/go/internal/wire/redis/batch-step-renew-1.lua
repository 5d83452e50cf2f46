--[[
batch-step-renew: extends (ARGV[3] = lease ms) or, with ARGV[3] = '0', ends a lease the caller holds.
  KEYS[1] state (see includes/batch-lib.lua)
  ARGV[1] step index   ARGV[2] token   ARGV[3] lease ms, or '0' to end it
Returns 1 when the caller held the lease, else 0.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include now-iso

local field = 'lease:' .. ARGV[1]
local lease = redis.call('HGET', KEYS[1], field)
if not lease then return 0 end
local cut = string.find(lease, ':', 1, true)
if string.sub(lease, cut + 1) ~= ARGV[2] then return 0 end
if ARGV[3] == '0' then
  redis.call('HDEL', KEYS[1], field)
else
  redis.call('HSET', KEYS[1], field, (now + tonumber(ARGV[3])) .. ':' .. ARGV[2], 'activeAt', nowIso)
end
return 1

--[[
stream-dead-letter: acknowledges an entry for this group and appends its dead letter to the
dead-letter stream (field `b`).
  KEYS[1] stream   KEYS[2] dead-letter stream (`<queue>.dead`)
  ARGV[1] group   ARGV[2] entry id   ARGV[3] the dead letter (a frame)
Returns 1, or 0 when the entry was no longer pending (settled or purged already).
Errors: `WRONGTYPE the dead-letter key <key> holds a <type>` when the dead-letter key is neither a
stream nor missing, checked before the XACK (which would stay applied).
]]
local deadType = redis.call('TYPE', KEYS[2])['ok']
if deadType ~= 'stream' and deadType ~= 'none' then
  return redis.error_reply('WRONGTYPE the dead-letter key ' .. KEYS[2] .. ' holds a ' .. deadType)
end
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'b', ARGV[3])
return 1

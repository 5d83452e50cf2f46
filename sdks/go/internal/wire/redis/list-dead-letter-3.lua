--[[
list-dead-letter: replaces a message by its dead letter (a frame) in the dead-letter list.
  KEYS[1] processing list   KEYS[2] attempts hash   KEYS[3] dead-letter list (`<queue>.dead`)
  ARGV[1] body   ARGV[2] the dead letter (contract's encodeDeadLetterFrame)
Returns 1, or 0 when an expired lease had already returned it to the queue.
Errors: `WRONGTYPE the dead-letter key <key> holds a <type>` when the dead-letter key is neither a
list nor missing, before any write (a script that fails half-way keeps its earlier writes, and the
message would be gone from both lists).
]]
local deadType = redis.call('TYPE', KEYS[3])['ok']
if deadType ~= 'list' and deadType ~= 'none' then
  return redis.error_reply('WRONGTYPE the dead-letter key ' .. KEYS[3] .. ' holds a ' .. deadType)
end
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed == 0 then return 0 end
if redis.call('HLEN', KEYS[2]) > 0 then
  redis.call('HDEL', KEYS[2], redis.sha1hex(ARGV[1]))
end
redis.call('LPUSH', KEYS[3], ARGV[2])
return 1

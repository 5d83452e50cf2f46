--[[
list-release: a consumer closing hands back what it holds: the messages whose handlers started count
an attempt, prefetched ones that never started do not; all go back to the next-out end of the queue
in their original order (the landing list holds the newest), and the consumer's lease is removed.
  KEYS[1] processing list   KEYS[2] queue list   KEYS[3] attempts hash   KEYS[4] consumer leases zset
  KEYS[5] landing list
  ARGV[1] consumer id   ARGV[2..n] bodies of started, unsettled deliveries
Returns the number of messages returned.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]
for i = 2, #ARGV do
  redis.call('HINCRBY', KEYS[3], redis.sha1hex(ARGV[i]), 1)
end
local moved = 0
while redis.call('LMOVE', KEYS[5], KEYS[2], 'LEFT', 'RIGHT') do moved = moved + 1 end
while true do
  local body = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not body then break end
  moved = moved + 1
end
redis.call('ZREM', KEYS[4], ARGV[1])
return moved

--[[
schedule: holds messages back until they are due (Lists and Streams).
  KEYS[1] the delayed sorted set
  ARGV[1] delay in ms   ARGV[2..n] members, `<16-character id>:<body>` (the id keeps equal bodies
          apart in the sorted set)
Returns the number of members added.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include now

local due = now + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], due, ARGV[i])
end
return #ARGV - 1

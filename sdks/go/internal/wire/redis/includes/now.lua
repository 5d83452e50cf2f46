--[[
now: the server's clock, so leases and delays mean the same thing to every process whatever its
own clock says. Defines `clock` (the TIME reply) and `now` (ms since the epoch).
]]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

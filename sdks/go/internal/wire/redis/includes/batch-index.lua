--[[
batch-index: `indexDue(state, claims, due)` keeps the sweep index in step with one batch's
claims: its earliest claim expiry, or no entry when the outbox is empty. The index member is the batch
id, read from the state hash (`idj` is its JSON).
]]
local function indexDue(state, claims, due)
  local id = cjson.decode(redis.call('HGET', state, 'idj'))
  local first = redis.call('ZRANGE', claims, 0, 0, 'WITHSCORES')
  if #first == 0 then redis.call('ZREM', due, id) else redis.call('ZADD', due, first[2], id) end
end

--[[
batch-sweep: the outbox sweep. At most one per `lock ms` across every worker (`SET NX PX`); finds
the batches whose earliest claim expired through the due index, claims their claimable emissions and
moves each batch's index entry to its next claim expiry. A batch's keys are built from the key tag and
its id (`<tag>:<id>:state`, `:outbox`, `:claims`), in the tag's cluster slot; an id whose state is
gone (expired) leaves the index.
  KEYS[1] due   KEYS[2] sweep lock
  ARGV[1] the key tag (`{<keyPrefix>batch}`)   ARGV[2] claim TTL ms   ARGV[3] at most this many batches
  ARGV[4] lock ms
Returns false when another worker swept less than `lock ms` ago, else a flat list of
{ batch id, its immutable fields (JSON), { claimed emissions } } per batch that had something.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include now-iso


--- @include batch-index

if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then return false end
local ttl = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local found = {}
for i = 1, #ids do
  local base = ARGV[1] .. ':' .. ids[i] .. ':'
  local state, outbox, claims = base .. 'state', base .. 'outbox', base .. 'claims'
  if redis.call('EXISTS', state) == 0 then
    redis.call('ZREM', KEYS[1], ids[i])
  else
    local keys = redis.call('ZRANGEBYSCORE', claims, '-inf', now)
    local items = {}
    for j = 1, #keys do
      local value = redis.call('HGET', outbox, keys[j])
      if value then
        items[#items + 1] = value
        redis.call('ZADD', claims, now + ttl, keys[j])
      else
        redis.call('ZREM', claims, keys[j])
      end
    end
    table.sort(items)
    for j = 1, #items do items[j] = string.sub(items[j], 11) end
    indexDue(state, claims, KEYS[1])
    if #items > 0 then
      found[#found + 1] = ids[i]
      found[#found + 1] = redis.call('HGET', state, 'static')
      found[#found + 1] = items
    end
  end
end
return found

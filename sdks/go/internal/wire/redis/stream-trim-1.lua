--[[
stream-trim: drops entries every group is done with, and only those. For each group, the first entry
still needed is its oldest pending entry, or the one after its last-delivered id; the stream is
trimmed (XTRIM MINID) below the smallest of these. A stream without groups is never trimmed.
  KEYS[1] stream
  (no ARGV)
Returns the number of entries removed.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]
local function parse(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local function less(a, b)
  local ams, aseq = parse(a)
  local bms, bseq = parse(b)
  return ams < bms or (ams == bms and aseq < bseq)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return 0 end
local floor = nil
for _, group in ipairs(groups) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  local needed = info['last-delivered-id']
  if tonumber(info['pending']) > 0 then
    local summary = redis.call('XPENDING', KEYS[1], info['name'])
    if less(summary[2], needed) then needed = summary[2] end
  end
  if floor == nil or less(needed, floor) then floor = needed end
end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)

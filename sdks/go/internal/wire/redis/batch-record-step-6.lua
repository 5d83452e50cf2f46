--[[
batch-record-step: records a step's final outcome (recordStepOutcome), then claims what is claimable.
  KEYS[1..6] state, jobs, settled, outbox, claims, due (see includes/batch-lib.lua)
  ARGV[1] step index   ARGV[2] '1' succeeded, '0' failed   ARGV[3] the error as given (JSON), for the
  record's failure   ARGV[4] `{code, message}` (JSON), for the catch payload   ARGV[5] claim TTL ms
  ARGV[6] retention ms   ARGV[7] the jobs generation the client holds, or ''
Returns {0} for an unknown batch, else { applied 0|1, state (HGETALL), settled, jobs or false when
the client holds them, claimed }.
Errors: none of its own (a key of another type fails a command with WRONGTYPE; see README.md).
]]

--- @include batch-lib

if redis.call('EXISTS', S) == 0 then return { 0 } end
local index = tonumber(ARGV[1])
local ok = ARGV[2] == '1'
local total = tonumber(field('total'))
local completed = tonumber(field('completed'))
local failed = tonumber(field('failed'))
local mode = field('mode')
local applied = 0
if field('status') == 'running' and index >= 0 and index < total
  and redis.call('ZSCORE', SETTLED, ARGV[1]) == false
  and not (mode == 'sequential' and index ~= completed) then
  applied = 1
  redis.call('ZADD', SETTLED, redis.call('ZCARD', SETTLED) + 1, ARGV[1])
  redis.call('HSET', S, 'updatedAt', nowIso)
  redis.call('HDEL', S, 'lease:' .. ARGV[1])
  if ok then
    completed = redis.call('HINCRBY', S, 'completed', 1)
  else
    failed = redis.call('HINCRBY', S, 'failed', 1)
  end
  local allowed = 0
  if mode ~= 'sequential' then allowed = tonumber(field('allowFailures')) end
  if not ok and failed > allowed then
    local event = job(index)
    local failedJob = '{"event":' .. event .. ',"index":' .. index .. '}'
    finish('failed', '{"reason":"failed","job":' .. failedJob .. ',"error":' .. ARGV[3] .. '}',
      '"failed"', failedJob, ARGV[4])
    expire(tonumber(ARGV[6]))
  else
    progress(completed, failed, total)
    if completed + failed == total then
      finish('succeeded', nil)
      expire(tonumber(ARGV[6]))
    elseif mode == 'sequential' then
      addStep(index + 1)
    end
  end
end
return snapshot(applied, claim(tonumber(ARGV[5])), ARGV[7])

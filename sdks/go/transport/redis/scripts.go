package redis

import (
	"github.com/redis/go-redis/v9"

	"github.com/thrun-dev/thrun/sdks/go/internal/wire"
)

// The shared scripts of protocol/redis, as the protocol module embeds them (the repository's only
// copy), their includes resolved by internal/wire. redis.Script runs EVALSHA and falls back to EVAL
// on NOSCRIPT.
var (
	scheduleScript         = script("schedule-1.lua")
	listFetchScript        = script("list-fetch-6.lua")
	listAckScript          = script("list-ack-2.lua").takingMany()
	listRetryScript        = script("list-retry-4.lua")
	listDeadLetterScript   = script("list-dead-letter-3.lua")
	listReapScript         = script("list-reap-3.lua")
	listReleaseScript      = script("list-release-5.lua")
	listPurgeScript        = script("list-purge-2.lua")
	streamClaimScript      = script("stream-claim-3.lua")
	streamRetryScript      = script("stream-retry-1.lua")
	streamReclaimScript    = script("stream-reclaim-1.lua")
	streamDeadLetterScript = script("stream-dead-letter-2.lua")
	streamTrimScript       = script("stream-trim-1.lua")
)

// luaScript keeps the text beside the runner, for pipelines (which send EVAL).
type luaScript struct {
	*redis.Script
	source string
	// many: calls with the same keys may go as one, their arguments concatenated (list-ack takes
	// many bodies and does what one call per body would).
	many bool
}

func script(file string) luaScript {
	source := wire.RedisScript(file).Source
	return luaScript{Script: redis.NewScript(source), source: source}
}

func (s luaScript) takingMany() luaScript {
	s.many = true
	return s
}

// delayedIDLength is the length of a delayed member's id: `<16 hex digits>:<body>`.
const delayedIDLength = 16

package thrun

import (
	"math"
	"math/rand/v2"
	"time"
)

// backoffDelay is the contract's backoffDelayMs (packages/contract/src/backoff.ts): attempt 1 waits
// base, each next attempt doubles it, capped at max; with jitter it is drawn from [delay/2, delay].
func backoffDelay(attempt int, base, max time.Duration, jitter bool, random func() float64) time.Duration {
	exponent := math.Max(0, math.Min(float64(attempt-1), 52))
	delayMs := math.Min(float64(max.Milliseconds()), float64(base.Milliseconds())*math.Pow(2, exponent))
	if jitter {
		delayMs = math.Round(delayMs/2 + random()*(delayMs/2))
	}
	return time.Duration(delayMs) * time.Millisecond
}

// RetryDelay is the wait before retrying after failed attempt n, as TypeScript's retryDelayMs:
// Backoff·2^(n-1) capped at MaxBackoff; with Jitter drawn from [delay, min(2·delay, MaxBackoff)].
func (r Retry) RetryDelay(attempt int) time.Duration { return r.retryDelay(attempt, rand.Float64) }

func (r Retry) retryDelay(attempt int, random func() float64) time.Duration {
	delay := backoffDelay(attempt, r.Backoff, r.MaxBackoff, false, random)
	if !r.Jitter {
		return delay
	}
	jittered := backoffDelay(attempt, 2*r.Backoff, 2*r.MaxBackoff, true, random)
	return max(delay, min(r.MaxBackoff, jittered))
}

// refusedSettlementDelay paces the tries of a settlement the broker refused: 100 ms doubling to
// 5 s, jittered (the contract's REFUSED_SETTLEMENT_BACKOFF).
func refusedSettlementDelay(failures int) time.Duration {
	return backoffDelay(failures, 100*time.Millisecond, 5*time.Second, true, rand.Float64)
}

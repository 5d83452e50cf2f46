<?php

declare(strict_types=1);

namespace Thrun\Worker;

/** The backoff rules shared with the TypeScript runtime (packages/contract backoff.ts, core worker.ts). */
final class Backoff
{
    /** `baseMs · 2^(attempt−1)` capped at `maxMs`; `full` jitter draws in [delay/2, delay]. */
    public static function delayMs(int $attempt, int $baseMs, int $maxMs, bool $jitter, ?\Closure $random = null): int
    {
        $exponent = max(0, min($attempt - 1, 52));
        $delay = min($maxMs, $baseMs * 2 ** $exponent);
        if (!$jitter) {
            return (int) $delay;
        }
        $draw = $random !== null ? $random() : mt_rand() / mt_getrandmax();
        return (int) round($delay / 2 + $draw * ($delay / 2));
    }

    /**
     * The worker's retry delay after failed attempt `attempt`: never shorter than the configured
     * delay, never longer than the cap; with jitter in [delay, min(2·delay, maxMs)].
     */
    public static function retryDelayMs(int $attempt, int $baseMs, int $maxMs, bool $jitter = true, ?\Closure $random = null): int
    {
        $delay = self::delayMs($attempt, $baseMs, $maxMs, false);
        if (!$jitter) {
            return $delay;
        }
        $jittered = self::delayMs($attempt, 2 * $baseMs, 2 * $maxMs, true, $random);
        return max($delay, min($maxMs, $jittered));
    }
}

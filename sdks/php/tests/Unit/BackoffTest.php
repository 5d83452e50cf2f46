<?php

declare(strict_types=1);

namespace Thrun\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Thrun\Worker\Backoff;

/** The retry delay rule of the TypeScript worker (packages/core worker.ts retryDelayMs). */
final class BackoffTest extends TestCase
{
    public function testTheDelayDoublesPerAttemptUpToTheCap(): void
    {
        $delays = array_map(fn (int $attempt) => Backoff::retryDelayMs($attempt, 1_000, 60_000, false), [1, 2, 3, 6, 7, 60]);
        self::assertSame([1_000, 2_000, 4_000, 32_000, 60_000, 60_000], $delays);
    }

    public function testJitterStaysBetweenTheDelayAndItsCappedDouble(): void
    {
        $at = static fn (float $draw): \Closure => static fn (): float => $draw;
        self::assertSame(1_000, Backoff::retryDelayMs(1, 1_000, 60_000, true, $at(0.0)));
        self::assertSame(2_000, Backoff::retryDelayMs(1, 1_000, 60_000, true, $at(1.0)));
        self::assertSame(1_500, Backoff::retryDelayMs(1, 1_000, 60_000, true, $at(0.5)));
        self::assertSame(60_000, Backoff::retryDelayMs(6, 1_000, 60_000, true, $at(1.0)), 'never beyond the cap');
        for ($i = 0; $i < 100; $i++) {
            $delay = Backoff::retryDelayMs(2, 200, 2_000, true);
            self::assertGreaterThanOrEqual(400, $delay);
            self::assertLessThanOrEqual(800, $delay);
        }
    }
}

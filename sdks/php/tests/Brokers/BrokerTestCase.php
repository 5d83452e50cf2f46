<?php

declare(strict_types=1);

namespace Thrun\Tests\Brokers;

use PHPUnit\Framework\TestCase;
use Thrun\Codec\SchemaValidator;
use Thrun\EventBus;
use Thrun\Transport\RedisConnection;
use Thrun\Worker\Worker;

/**
 * Tests against the real brokers of scripts/brokers/*.sh (THRUN_REDIS_URL, THRUN_AMQP_URL). A broker
 * that cannot be reached fails the test: nothing here is skipped.
 */
abstract class BrokerTestCase extends TestCase
{
    protected static function redisUrl(): string
    {
        return getenv('THRUN_REDIS_URL') ?: 'redis://127.0.0.1:6379';
    }

    protected static function amqpUrl(): string
    {
        return getenv('THRUN_AMQP_URL') ?: 'amqp://guest:guest@127.0.0.1:5672';
    }

    protected static function redis(): \Redis
    {
        return RedisConnection::open(self::redisUrl());
    }

    protected static function uniqueQueue(string $name): string
    {
        return $name . '-' . bin2hex(random_bytes(4));
    }

    /** Runs a worker until it handled `maxJobs` deliveries or `seconds` passed. */
    protected static function work(EventBus $bus, string $queue, ?int $maxJobs = null, float $seconds = 5.0, int $maxAttempts = 5, string $unknownEvents = 'dead-letter'): Worker
    {
        $worker = new Worker($bus, [$queue], maxAttempts: $maxAttempts, backoffMs: 20, maxBackoffMs: 200, unknownEvents: $unknownEvents, maxJobs: $maxJobs, maxTimeSeconds: $seconds, idleWaitSeconds: 0.1);
        $worker->run();
        return $worker;
    }

    /** A dispatch delayed by 300 ms is handled, and not before 300 ms passed. */
    protected static function assertDelayedDispatchIsNotEarly(EventBus $bus, string $queue): void
    {
        $handledAt = null;
        $bus->subscribe('reminder', function () use (&$handledAt): void {
            $handledAt = microtime(true);
        });
        $sentAt = microtime(true);
        $bus->event('reminder', [], ['queue' => $queue, 'delayMs' => 300]);
        self::work($bus, $queue, maxJobs: 1);
        self::assertNotNull($handledAt, 'handled');
        self::assertGreaterThanOrEqual(0.29, $handledAt - $sentAt);
    }

    /** Splits a dead-letter frame and checks its description against schemas/dead-letter.schema.json. */
    protected static function readFrame(string $frame): array
    {
        [$line, $body] = explode("\n", $frame, 2);
        $issues = SchemaValidator::shared()->validate(json_decode($line, false), 'https://thrun.dev/schemas/dead-letter.schema.json');
        self::assertSame([], $issues, 'the frame follows schemas/dead-letter.schema.json');
        return [json_decode($line, true), $body];
    }
}

<?php

declare(strict_types=1);

namespace Thrun\Tests\Brokers;

use Thrun\EventBus;
use Thrun\HandlerContext;
use Thrun\Transport\RedisStreamsTransport;

final class RedisStreamsTest extends BrokerTestCase
{
    private function bus(string $group = 'default', int $idleMs = 30_000): EventBus
    {
        return new EventBus(new RedisStreamsTransport(self::redis(), idleMs: $idleMs, group: $group));
    }

    public function testEveryGroupGetsEveryMessage(): void
    {
        $queue = self::uniqueQueue('stream');
        $seen = [];
        foreach (['billing', 'shipping'] as $group) {
            // Groups start at the oldest entry still in the stream.
            $bus = $this->bus($group);
            $bus->subscribe('order_created', function (array $payload) use (&$seen, $group): void {
                $seen[] = "{$group}:{$payload['order_id']}";
            });
            if ($group === 'billing') {
                $bus->events([['event' => 'order_created', 'payload' => ['order_id' => 1], 'options' => ['queue' => $queue]], ['event' => 'order_created', 'payload' => ['order_id' => 2], 'options' => ['queue' => $queue]]]);
            }
            self::work($bus, $queue, maxJobs: 2);
        }
        self::assertSame(['billing:1', 'billing:2', 'shipping:1', 'shipping:2'], $seen);
    }

    public function testAForeignEntryWithoutTheBFieldIsDelivered(): void
    {
        $queue = self::uniqueQueue('stream-foreign');
        self::redis()->rawCommand('XADD', $queue, '*', 'data', '{"event":"go_message","payload":{"text":"hi"}}');
        $bus = $this->bus();
        $texts = [];
        $bus->subscribe('go_message', function (array $payload) use (&$texts): void {
            $texts[] = $payload['text'];
        });
        self::work($bus, $queue, maxJobs: 1);
        self::assertSame(['hi'], $texts);
    }

    public function testRetriesRaiseTheDeliveryCountThenDeadLetter(): void
    {
        $queue = self::uniqueQueue('stream-flaky');
        $bus = $this->bus();
        $attempts = [];
        $bus->subscribe('always.fails', function (array $payload, HandlerContext $context) use (&$attempts): void {
            $attempts[] = $context->attempt;
            throw new \RuntimeException('boom');
        });
        $bus->event('always.fails', [], ['queue' => $queue]);
        self::work($bus, $queue, maxJobs: 3, maxAttempts: 3);
        self::assertSame([1, 2, 3], $attempts);
        $dead = self::redis()->rawCommand('XRANGE', "{$queue}.dead", '-', '+');
        self::assertCount(1, $dead);
        [$description] = self::readFrame($dead[0][1][1]);
        self::assertSame('max_attempts', $description['error']['code']);
        self::assertSame(3, $description['attempts']);
        $pending = self::redis()->rawCommand('XPENDING', $queue, 'default');
        self::assertSame(0, $pending[0], 'nothing left pending');
    }

    public function testADeadConsumersEntriesAreClaimedAsTheirNextAttempt(): void
    {
        $queue = self::uniqueQueue('stream-crash');
        $crashed = new RedisStreamsTransport(self::redis(), idleMs: 200);
        $crashed->publish($queue, ['{"event":"job","payload":{}}']);
        self::assertCount(1, $crashed->fetch($queue, 1, 0.5));
        usleep(300_000);
        $bus = $this->bus(idleMs: 200);
        $attempts = [];
        $bus->subscribe('job', function (array $payload, HandlerContext $context) use (&$attempts): void {
            $attempts[] = $context->attempt;
        });
        self::work($bus, $queue, maxJobs: 1);
        self::assertSame([2], $attempts);
    }

    public function testDelayedPublishAndStop(): void
    {
        $queue = self::uniqueQueue('stream-later');
        $bus = $this->bus();
        self::assertDelayedDispatchIsNotEarly($bus, $queue);
    }
}

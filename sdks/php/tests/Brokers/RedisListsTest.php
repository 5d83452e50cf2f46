<?php

declare(strict_types=1);

namespace Thrun\Tests\Brokers;

use Thrun\EventBus;
use Thrun\HandlerContext;
use Thrun\PermanentError;
use Thrun\Transport\RedisListsTransport;

final class RedisListsTest extends BrokerTestCase
{
    private function bus(int $leaseMs = 30_000): EventBus
    {
        return new EventBus(new RedisListsTransport(self::redis(), leaseMs: $leaseMs));
    }

    public function testAPlainLpushFromAForeignProducerIsHandled(): void
    {
        $queue = self::uniqueQueue('events');
        // The design's Go example: rdb.LPush(ctx, "events", data), no meta.
        self::redis()->lPush($queue, '{"event":"go_message","payload":{"text":"hello"}}');
        $bus = $this->bus();
        $received = [];
        $bus->subscribe('go_message', function (array $payload, HandlerContext $context) use (&$received): void {
            $received[] = [$payload, $context->attempt, $context->envelope->meta];
        });
        self::work($bus, $queue, maxJobs: 1);
        self::assertSame([[['text' => 'hello'], 1, null]], $received);
        self::assertSame(0, self::redis()->lLen($queue));
        self::assertSame([], self::redis()->keys("{{$queue}}:processing:*"), 'acknowledged: nothing left in processing');
    }

    public function testDispatchedEventsArriveInOrder(): void
    {
        $queue = self::uniqueQueue('orders');
        $bus = $this->bus();
        $bus->events([
            ['event' => 'order_created', 'payload' => ['order_id' => 1], 'options' => ['queue' => $queue]],
            ['event' => 'order_created', 'payload' => ['order_id' => 2], 'options' => ['queue' => $queue]],
        ]);
        $bus->event('order_created', ['order_id' => 3], ['queue' => $queue]);
        $ids = [];
        $bus->subscribe('order_created', function (array $payload) use (&$ids): void {
            $ids[] = $payload['order_id'];
        });
        self::work($bus, $queue, maxJobs: 3);
        self::assertSame([1, 2, 3], $ids);
    }

    public function testRetriesCountAttemptsThenDeadLetterAtMaxAttempts(): void
    {
        $queue = self::uniqueQueue('flaky');
        $bus = $this->bus();
        $attempts = [];
        $bus->subscribe('always.fails', function (array $payload, HandlerContext $context) use (&$attempts): void {
            $attempts[] = $context->attempt;
            throw new \RuntimeException('boom');
        });
        $body = null;
        $bus->event('always.fails', ['n' => 1], ['queue' => $queue]);
        $body = self::redis()->lIndex($queue, 0);
        self::work($bus, $queue, maxJobs: 3, maxAttempts: 3);
        self::assertSame([1, 2, 3], $attempts);
        [$frame] = self::redis()->lRange("{$queue}.dead", 0, -1);
        [$description, $original] = self::readFrame($frame);
        self::assertSame($body, $original, 'the original bytes, unchanged');
        self::assertSame($queue, $description['queue']);
        self::assertSame(['code' => 'max_attempts', 'message' => 'failed on attempt 3 of 3: boom'], $description['error']);
        self::assertSame(3, $description['attempts']);
        self::assertSame(0, self::redis()->hLen("{{$queue}}:attempts"), 'the attempts field is gone');
    }

    public function testMalformedMessagesAreDeadLetteredWithTheCodecReason(): void
    {
        $queue = self::uniqueQueue('poison');
        $redis = self::redis();
        $redis->lPush($queue, '{"event":"a","payload":{},"event":"b"}', "\xff\xfe", '{"event":"a","payload":{"n":9007199254740993}}', 'not json', '{"event":"a","payload":[]}');
        self::work($this->bus(), $queue, maxJobs: 5);
        $codes = array_map(fn (string $frame) => self::readFrame($frame)[0]['error']['code'], array_reverse($redis->lRange("{$queue}.dead", 0, -1)));
        self::assertSame(['duplicate_key', 'invalid_utf8', 'unsafe_integer', 'invalid_json', 'schema_violation'], $codes);
    }

    public function testPermanentErrorsAndUnknownEventsDeadLetterAtOnce(): void
    {
        $queue = self::uniqueQueue('permanent');
        $bus = $this->bus();
        $bus->subscribe('order.refund', function (): void {
            throw new PermanentError('order 7 does not exist', 'order_missing');
        });
        $bus->event('order.refund', [], ['queue' => $queue]);
        $bus->event('nobody.listens', [], ['queue' => $queue]);
        self::work($bus, $queue, maxJobs: 2);
        $reasons = array_map(fn (string $frame) => self::readFrame($frame)[0]['error'], array_reverse(self::redis()->lRange("{$queue}.dead", 0, -1)));
        self::assertSame([
            ['code' => 'order_missing', 'message' => 'order 7 does not exist'],
            ['code' => 'unknown_event', 'message' => 'no listener for "nobody.listens" on queue "' . $queue . '"'],
        ], $reasons);
    }

    public function testUnknownEventsCanBeDroppedOrLeft(): void
    {
        $queue = self::uniqueQueue('unknown');
        $bus = $this->bus();
        $bus->event('nobody.listens', [], ['queue' => $queue]);
        $worker = self::work($bus, $queue, maxJobs: 1, unknownEvents: 'leave');
        self::assertSame(1, $worker->stats['left']);
        $worker = self::work($bus, $queue, maxJobs: 1, unknownEvents: 'drop');
        self::assertSame(1, $worker->stats['dropped']);
        self::assertSame(0, self::redis()->lLen($queue) + self::redis()->zCard("{{$queue}}:delayed"));
    }

    public function testDelayedDispatchIsNotDeliveredEarly(): void
    {
        $queue = self::uniqueQueue('later');
        $bus = $this->bus();
        self::assertDelayedDispatchIsNotEarly($bus, $queue);
    }

    public function testAConsumerThatDiedLosesNothing(): void
    {
        $queue = self::uniqueQueue('crash');
        // A consumer that stops renewing its lease, as a killed one does (WorkerCommandTest kills one).
        $crashed = new RedisListsTransport(self::redis(), leaseMs: 200, renewWhileHandling: false);
        $crashed->publish($queue, ['{"event":"job","payload":{}}']);
        self::assertCount(1, $crashed->fetch($queue, 1, 0));
        // It never settles nor releases: its lease expires and the next consumer reaps the message.
        usleep(300_000);
        $bus = $this->bus();
        $attempts = [];
        $bus->subscribe('job', function (array $payload, HandlerContext $context) use (&$attempts): void {
            $attempts[] = $context->attempt;
        });
        self::work($bus, $queue, maxJobs: 1);
        self::assertSame([2], $attempts, 'delivered again, as its next attempt');
    }

    /**
     * A handler that runs for four leases while another consumer of the queue keeps fetching (and
     * reaping expired leases): the running message is never given to it. With the renewal off, the
     * same handler loses its message to the other consumer, which shows the lease really expires.
     *
     * @testWith [true, []]
     *           [false, [2]]
     */
    public function testTheLeaseIsRenewedWhileALongHandlerRuns(bool $renew, array $otherAttempts): void
    {
        $queue = self::uniqueQueue('long');
        $leaseMs = 500;
        $bus = new EventBus(new RedisListsTransport(self::redis(), leaseMs: $leaseMs, renewWhileHandling: $renew));
        $other = new RedisListsTransport(self::redis(), leaseMs: $leaseMs, renewWhileHandling: false);
        $bus->event('long.job', [], ['queue' => $queue]);
        $got = [];
        $bus->subscribe('long.job', function () use ($other, $queue, $leaseMs, &$got): void {
            // Busy in this process the whole time: only a renewal from elsewhere keeps the lease.
            $end = microtime(true) + 4 * $leaseMs / 1000;
            while (microtime(true) < $end) {
                foreach ($other->fetch($queue, 10, 0.05) as $delivery) {
                    $got[] = $delivery->attempt;
                    $delivery->ack();
                }
            }
        });
        $worker = self::work($bus, $queue, maxJobs: 1);
        $other->close();
        self::assertSame($otherAttempts, $got);
        self::assertSame(1, $worker->stats['handled']);
        self::assertSame(0, self::redis()->lLen($queue));
        self::assertSame([], self::redis()->keys("{{$queue}}:processing:*"));
    }

    public function testStoppingHandsBackWhatWasPrefetched(): void
    {
        $queue = self::uniqueQueue('prefetch');
        $bus = $this->bus();
        $bus->events(array_fill(0, 5, ['event' => 'job', 'payload' => [], 'options' => ['queue' => $queue]]));
        $bus->subscribe('job', fn () => null);
        self::work($bus, $queue, maxJobs: 2);
        self::assertSame(3, self::redis()->lLen($queue), 'the three fetched and never started are back in the queue');
        self::assertSame(0, self::redis()->hLen("{{$queue}}:attempts"), 'without an attempt counted');
        self::assertSame(0, self::redis()->zCard("{{$queue}}:consumers"), 'and the lease is gone');
    }
}

<?php

declare(strict_types=1);

namespace Thrun\Tests\Brokers;

use Thrun\EventBus;
use Thrun\HandlerContext;
use Thrun\Transport\RabbitMqTransport;

final class RabbitMqTest extends BrokerTestCase
{
    private function bus(): EventBus
    {
        return new EventBus(RabbitMqTransport::fromUrl(self::amqpUrl()));
    }

    public function testBucketsRoundUpToTwoSignificantDigits(): void
    {
        self::assertSame([1, 99, 100, 1300, 60000, 60000], array_map(RabbitMqTransport::bucketMs(...), [1, 99, 100, 1234, 59999, 60000]));
    }

    public function testDispatchRetryAndDeadLetterWithTheSharedHeaders(): void
    {
        $queue = self::uniqueQueue('rabbit');
        $bus = $this->bus();
        $attempts = [];
        $bus->subscribe('always.fails', function (array $payload, HandlerContext $context) use (&$attempts): void {
            $attempts[] = $context->attempt;
            throw new \RuntimeException('boom');
        });
        $bus->subscribe('fine', function (array $payload, HandlerContext $context) use (&$attempts): void {
            $attempts[] = "fine:{$payload['n']}";
        });
        $bus->event('fine', ['n' => 1], ['queue' => $queue]);
        $bus->event('always.fails', [], ['queue' => $queue]);
        self::work($bus, $queue, maxJobs: 4, maxAttempts: 3);
        self::assertSame(['fine:1', 1, 2, 3], $attempts);

        $reader = RabbitMqTransport::fromUrl(self::amqpUrl());
        $dead = new \AMQPQueue($reader->channel());
        $dead->setName("{$queue}.dead");
        $message = $dead->get(AMQP_AUTOACK);
        self::assertInstanceOf(\AMQPEnvelope::class, $message);
        self::assertSame('always.fails', json_decode($message->getBody(), true)['event']);
        $headers = $message->getHeaders();
        self::assertSame($queue, $headers['thrun-dead-queue']);
        self::assertSame('max_attempts', $headers['thrun-dead-error-code']);
        self::assertSame('failed on attempt 3 of 3: boom', $headers['thrun-dead-error-message']);
        self::assertSame('3', $headers['thrun-dead-attempts']);
        self::assertMatchesRegularExpression('/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/', $headers['thrun-dead-failed-at']);
        self::assertCount(5, $headers, 'the five thrun-dead-* headers and no others');
        $reader->disconnect();
    }

    public function testDelayedDispatchGoesThroughABucket(): void
    {
        $queue = self::uniqueQueue('rabbit-later');
        $bus = $this->bus();
        self::assertDelayedDispatchIsNotEarly($bus, $queue);
    }

    public function testMalformedAndRequeuedMessages(): void
    {
        $queue = self::uniqueQueue('rabbit-poison');
        $transport = RabbitMqTransport::fromUrl(self::amqpUrl());
        $transport->publish($queue, ['{"event":"a","payload":{},"payload":{}}', '{"event":"job","payload":{}}']);
        $attempts = [];
        $bus = new EventBus($transport);
        $bus->subscribe('job', function (array $payload, HandlerContext $context) use (&$attempts): void {
            $attempts[] = $context->attempt;
        });
        // The poison first: dead-lettered with the codec's reason.
        self::work($bus, $queue, maxJobs: 1);
        // A consumer that took the next one and stopped while its handler ran gives it back.
        $taker = RabbitMqTransport::fromUrl(self::amqpUrl());
        self::assertCount(1, $deliveries = $taker->fetch($queue, 1, 2));
        $taker->close($deliveries);
        self::work($bus, $queue, maxJobs: 1);
        self::assertSame([2], $attempts, 'redelivered, as its next attempt');

        $reader = RabbitMqTransport::fromUrl(self::amqpUrl());
        $dead = new \AMQPQueue($reader->channel());
        $dead->setName("{$queue}.dead");
        self::assertSame('duplicate_key', $dead->get(AMQP_AUTOACK)->getHeader('thrun-dead-error-code'));
        $reader->disconnect();
    }
}

<?php

declare(strict_types=1);

namespace Thrun\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Thrun\Codec\Codec;
use Thrun\Discovery;
use Thrun\EventBus;
use Thrun\EventName;
use Thrun\HandlerContext;
use Thrun\Tests\Fixtures\Events\UserCreated;
use Thrun\Tests\Fixtures\Listeners\GoMessageHandler;
use Thrun\Tests\Fixtures\Listeners\OrderListeners;
use Thrun\Tests\Fixtures\Listeners\UserCreatedHandler;
use Thrun\Transport\InMemoryTransport;
use Thrun\Worker\Worker;

final class BusTest extends TestCase
{
    private InMemoryTransport $transport;
    private EventBus $eventDispatch;

    protected function setUp(): void
    {
        $this->transport = new InMemoryTransport();
        $this->eventDispatch = new EventBus($this->transport, routes: ['billing.#' => 'billing']);
        GoMessageHandler::$received = [];
        UserCreatedHandler::$received = [];
        OrderListeners::$seen = [];
    }

    private function sent(string $queue = 'events'): array
    {
        return array_map(fn ($m) => json_decode($m['body'], true), $this->transport->queues[$queue] ?? []);
    }

    public function testDispatchByNameFillsMeta(): void
    {
        $id = $this->eventDispatch->event('order_created', ['order_id' => 123]);
        [$message] = $this->sent();
        self::assertSame('order_created', $message['event']);
        self::assertSame(['order_id' => 123], $message['payload']);
        self::assertSame($id, $message['meta']['event_id']);
        self::assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $id);
        self::assertMatchesRegularExpression('/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/', $message['meta']['timestamp']);
        self::assertSame('php', $message['meta']['source']);
    }

    public function testSourceIsTheServiceName(): void
    {
        $bus = new EventBus($this->transport, source: 'billing');
        $bus->event('invoice.paid', []);
        self::assertSame('billing', $this->sent()[0]['meta']['source']);
        self::assertStringContainsString('"payload":{}', $this->transport->queues['events'][0]['body'], 'an empty payload is an object');
    }

    public function testDispatchByClassUsesTheContractName(): void
    {
        $this->eventDispatch->event(UserCreated::class, ['user_id' => 1]);
        $this->eventDispatch->event(new UserCreated(7));
        self::assertSame(['user_created', 'user_created'], array_column($this->sent(), 'event'));
        self::assertSame([['user_id' => 1], ['user_id' => 7]], array_column($this->sent(), 'payload'));
    }

    public function testAClassWithoutAContractNameIsRefused(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        $this->expectExceptionMessage('ThrunEvent');
        $this->eventDispatch->event(\ArrayObject::class, []);
    }

    public function testBulkDispatchKeepsOrderAndRoutes(): void
    {
        $ids = $this->eventDispatch->events([
            ['event' => 'order_created', 'payload' => ['order_id' => 1]],
            new UserCreated(2),
            ['event' => 'billing.invoice.paid', 'payload' => ['invoice' => 'a']],
            ['event' => 'order_created', 'payload' => ['order_id' => 3]],
        ]);
        self::assertCount(4, array_unique($ids));
        self::assertSame(['order_created', 'user_created', 'order_created'], array_column($this->sent(), 'event'));
        self::assertSame(['billing.invoice.paid'], array_column($this->sent('billing'), 'event'));
    }

    public function testUnencodableEventsAreRefusedBeforeSending(): void
    {
        foreach ([['id' => 2 ** 53], ['__proto__' => 1], ['x' => NAN]] as $payload) {
            try {
                $this->eventDispatch->event('order_created', $payload);
                self::fail('expected a refusal for ' . json_encode(array_keys($payload)));
            } catch (\Thrun\Codec\EncodeError $error) {
                self::assertSame('invalid_payload', $error->reason);
            }
        }
        $this->expectException(\InvalidArgumentException::class);
        $this->eventDispatch->event('Order Created', []);
    }

    public function testWildcardsMatchLikeTheOtherRuntimes(): void
    {
        self::assertTrue(EventName::matches('order.*', 'order.paid'));
        self::assertFalse(EventName::matches('order.*', 'order'));
        self::assertFalse(EventName::matches('order.*', 'order.paid.late'));
        self::assertTrue(EventName::matches('order.#', 'order'));
        self::assertTrue(EventName::matches('order.#', 'order.a.b'));
        self::assertTrue(EventName::matches('#.paid', 'invoice.paid'));
        self::assertTrue(EventName::matches('#', 'anything.at.all'));
        self::assertFalse(EventName::matches('order.*', 'orders.paid'));
        self::assertFalse(EventName::isPattern('order.**'));
    }

    public function testSubscribeByClassCallableAndAttributes(): void
    {
        $calls = [];
        $this->eventDispatch->subscribe('go_message', GoMessageHandler::class);
        $this->eventDispatch->subscribe('go_message', function (array $payload) use (&$calls): void {
            $calls[] = $payload['text'];
        });
        $this->eventDispatch->subscribe(UserCreated::class, UserCreatedHandler::class);
        $this->eventDispatch->event('go_message', ['text' => 'hello']);
        $this->eventDispatch->event(new UserCreated(5));
        $this->work();
        self::assertSame([['text' => 'hello']], GoMessageHandler::$received);
        self::assertSame(['hello'], $calls);
        self::assertSame([[['user_id' => 5], 1]], UserCreatedHandler::$received);
    }

    public function testDiscoveryFindsClassesAndMethodsAndCachesTheMap(): void
    {
        $directory = dirname(__DIR__) . '/Fixtures/Listeners';
        $cache = sys_get_temp_dir() . '/thrun-listeners-' . bin2hex(random_bytes(4)) . '.php';
        $map = Discovery::load($directory, $cache);
        self::assertFileExists($cache);
        self::assertEqualsCanonicalizing([
            ['go_message', GoMessageHandler::class, null],
            ['order.*', OrderListeners::class, 'anyOrder'],
            ['order.created', OrderListeners::class, 'created'],
            ['user_created', UserCreatedHandler::class, null],
        ], $map);
        self::assertSame($map, Discovery::load('/nonexistent', $cache), 'production reads the cached map, not the directory');
        unlink($cache);

        $this->eventDispatch->discover($directory);
        $this->eventDispatch->event('order.created', ['order_id' => 9]);
        $this->work();
        self::assertSame(['any:order.created', 'created:9', 'any:order.confirmed'], OrderListeners::$seen);
    }

    public function testAHandlerDispatchesWithCausation(): void
    {
        $this->eventDispatch->subscribe('order.created', function (array $payload, HandlerContext $context): void {
            $context->event('order.confirmed', []);
        });
        $this->eventDispatch->subscribe('order.confirmed', fn () => null);
        $first = $this->eventDispatch->event('order.created', [], ['correlationId' => 'checkout-1']);
        $this->work(maxJobs: 1);
        [$confirmed] = $this->sent();
        self::assertSame('order.confirmed', $confirmed['event']);
        self::assertSame($first, $confirmed['meta']['causation_id']);
        self::assertSame('checkout-1', $confirmed['meta']['correlation_id']);
    }

    public function testTheContextCarriesTheEnvelopeAndAttempt(): void
    {
        $seen = [];
        $this->eventDispatch->subscribe('flaky', function (array $payload, HandlerContext $context) use (&$seen): void {
            $seen[] = [$context->attempt, $context->envelope->meta['source'], $context->maxAttempts];
            if ($context->attempt < 3) {
                throw new \RuntimeException('not yet');
            }
        });
        $this->eventDispatch->event('flaky', []);
        $this->work();
        self::assertSame([[1, 'php', 5], [2, 'php', 5], [3, 'php', 5]], $seen);
    }

    public function testTheWorkerStopsAtItsMemoryBound(): void
    {
        $this->eventDispatch->subscribe('job', fn () => null);
        $this->eventDispatch->events([['event' => 'job'], ['event' => 'job']]);
        $worker = new Worker($this->eventDispatch, memoryMb: 1, idleWaitSeconds: 0);
        self::assertSame('memory', $worker->run());
        self::assertSame(1, $worker->stats['handled']);
    }

    public function testKafkaIsNotAvailableAndSaysWhy(): void
    {
        $this->expectExceptionMessage('Debian packages no PHP Kafka extension');
        \Thrun\Transport\Transports::create('kafka');
    }

    private function work(?int $maxJobs = null): Worker
    {
        $worker = new Worker($this->eventDispatch, maxJobs: $maxJobs, maxTimeSeconds: $maxJobs === null ? 0.3 : null, idleWaitSeconds: 0);
        $worker->run();
        return $worker;
    }

    public function testEncodedBytesDecodeAgain(): void
    {
        $this->eventDispatch->event('order_created', ['nested' => ['list' => [1, 2.5, 'x', null, true]], 'text' => 'é/€']);
        $envelope = (new Codec())->decode($this->transport->queues['events'][0]['body']);
        self::assertSame(['nested' => ['list' => [1, 2.5, 'x', null, true]], 'text' => 'é/€'], $envelope->payload);
    }
}

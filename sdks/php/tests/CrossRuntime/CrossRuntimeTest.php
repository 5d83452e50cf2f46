<?php

declare(strict_types=1);

namespace Thrun\Tests\CrossRuntime;

use Thrun\Batch\RedisBatchStore;
use Thrun\EventBus;
use Thrun\HandlerContext;
use Thrun\Tests\Brokers\BrokerTestCase;
use Thrun\Tests\Fixtures\Events\CreateOrder;
use Thrun\Tests\Fixtures\Events\CreatePayment;
use Thrun\Tests\Fixtures\Events\SendOrderEmail;
use Thrun\Transport\LuaScripts;
use Thrun\Transport\Transports;

/**
 * PHP and TypeScript on one broker: each dispatches what the other handles, on every transport both
 * have, and batches created on one side run their steps on the other. The TypeScript side is
 * ts-peer.mjs on the built packages (`bash scripts/pnpm.sh build`).
 */
final class CrossRuntimeTest extends BrokerTestCase
{
    /** Runs ts-peer.mjs to completion; returns its stdout lines. */
    private static function peer(string ...$arguments): array
    {
        [$process, $pipes] = self::startPeer(...$arguments);
        return self::finish($process, $pipes);
    }

    /** @return array{resource, array} */
    private static function startPeer(string ...$arguments): array
    {
        $command = ['node', __DIR__ . '/ts-peer.mjs', ...$arguments];
        $environment = ['THRUN_REDIS_URL' => self::redisUrl(), 'THRUN_AMQP_URL' => self::amqpUrl()] + getenv();
        $process = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $environment);
        self::assertIsResource($process);
        return [$process, $pipes];
    }

    private static function finish($process, array $pipes): array
    {
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $code = proc_close($process);
        self::assertSame(0, $code, "ts-peer failed: {$err}");
        return array_values(array_filter(explode("\n", $out)));
    }

    public static function transports(): array
    {
        return ['redis-lists' => ['redis-lists'], 'redis-streams' => ['redis-streams'], 'rabbitmq' => ['rabbitmq']];
    }

    /** @dataProvider transports */
    public function testTypeScriptDispatchesAndPhpHandles(string $transport): void
    {
        $queue = self::uniqueQueue('xr-ts-php');
        [$eventId] = self::peer('produce', $transport, $queue, 'order_created', '{"order_id":123}');
        $bus = new EventBus(Transports::create($transport));
        $handled = [];
        $bus->subscribe('order_created', function (array $payload, HandlerContext $context) use (&$handled): void {
            $handled[] = [$payload, $context->envelope->meta['source'], $context->envelope->eventId(), $context->attempt];
        });
        self::work($bus, $queue, maxJobs: 1);
        self::assertSame([[['order_id' => 123], 'node', $eventId, 1]], $handled);
    }

    /** @dataProvider transports */
    public function testPhpDispatchesAndTypeScriptHandles(string $transport): void
    {
        $queue = self::uniqueQueue('xr-php-ts');
        $bus = new EventBus(Transports::create($transport), defaultQueue: $queue);
        $first = $bus->event('order_created', ['order_id' => 1, 'note' => 'é/€']);
        $bus->event('order_created', ['order_id' => 2], ['delayMs' => 200]);
        $lines = self::peer('consume', $transport, $queue, '2', 'order_created');
        $handled = array_map(fn (string $line) => json_decode($line, true), $lines);
        self::assertSame([['order_id' => 1, 'note' => 'é/€'], ['order_id' => 2]], array_column($handled, 'payload'));
        self::assertSame(['php', 'php'], array_column(array_column($handled, 'meta'), 'source'));
        self::assertSame($first, $handled[0]['meta']['event_id']);
        self::assertSame([1, 1], array_column($handled, 'attempt'));
    }

    public function testAPhpRetryIsTheNextAttemptForTypeScript(): void
    {
        $queue = self::uniqueQueue('xr-retry');
        $bus = new EventBus(Transports::create('redis-lists'), defaultQueue: $queue);
        $bus->event('flaky', []);
        $bus->subscribe('flaky', function (): void {
            throw new \RuntimeException('PHP gives up once');
        });
        self::work($bus, $queue, maxJobs: 1);
        $handled = json_decode(self::peer('consume', 'redis-lists', $queue, '1', 'flaky')[0], true);
        self::assertSame(2, $handled['attempt']);
    }

    public function testTypeScriptReadsPhpDeadLetters(): void
    {
        $queue = self::uniqueQueue('xr-dead');
        $bus = new EventBus(Transports::create('redis-lists'), defaultQueue: $queue);
        $bus->subscribe('always.fails', function (): void {
            throw new \RuntimeException(str_repeat('é', 600)); // 1,200 bytes: cut to 1,024 by the shared rule
        });
        $bus->event('always.fails', ['n' => 1]);
        self::redis()->lPush($queue, '{"event":"x","payload":{},"event":"y"}');
        self::work($bus, $queue, maxJobs: 3, maxAttempts: 2);
        $letters = [];
        foreach (self::peer('dead', $queue) as $line) {
            $letter = json_decode($line, true);
            $letters[$letter['error']['code']] = $letter;
        }
        self::assertEqualsCanonicalizing(['duplicate_key', 'max_attempts'], array_keys($letters));
        self::assertSame(['frame', 1, $queue], [$letters['duplicate_key']['form'], $letters['duplicate_key']['attempts'], $letters['duplicate_key']['queue']]);
        self::assertSame('{"event":"x","payload":{},"event":"y"}', $letters['duplicate_key']['original']);
        self::assertSame(['frame', 2, $queue], [$letters['max_attempts']['form'], $letters['max_attempts']['attempts'], $letters['max_attempts']['queue']]);
        $message = $letters['max_attempts']['error']['message'];
        self::assertLessThanOrEqual(1024, strlen($message));
        self::assertStringEndsWith('…', $message);
    }

    public function testTheRedisScriptsAreTheTypeScriptOnes(): void
    {
        $scripts = LuaScripts::shared();
        foreach (self::peer('shas') as $line) {
            [$name, $sha] = explode(' ', $line);
            self::assertSame($sha, $scripts->sha($name), $name);
        }
    }

    public function testABatchCreatedInPhpRunsItsStepsOnTypeScript(): void
    {
        $queue = self::uniqueQueue('xr-batch-php');
        $bus = new EventBus(Transports::create('redis-lists'), defaultQueue: $queue, batchStore: new RedisBatchStore(self::redis()));
        $batchId = $bus->batch([new CreatePayment(), new CreateOrder(), new SendOrderEmail()])
            ->then('order.success')->catch('order.failed')->finally('order.finished')->progress('order.progress')
            ->dispatch();
        $lines = self::peer('engine', $queue, '8', 'create_payment', 'create_order', 'send_order_email', 'order.success', 'order.failed', 'order.finished', 'order.progress');
        $handled = array_map(fn (string $line) => json_decode($line, true), $lines);
        self::assertSame(['create_payment', 'order.progress', 'create_order', 'order.progress', 'send_order_email', 'order.progress', 'order.success', 'order.finished'], array_column($handled, 'event'));
        self::assertSame([$batchId, 0, 3], [$handled[0]['meta']['batch']['id'], $handled[0]['meta']['batch']['index'], $handled[0]['meta']['batch']['total']]);
        self::assertSame(RedisBatchStore::eventId($batchId, 'then'), $handled[6]['meta']['event_id']);
        self::assertSame('succeeded', $bus->batches()->get($batchId)['status']);
    }

    public function testABatchCreatedInTypeScriptRunsItsStepsOnPhp(): void
    {
        $queue = self::uniqueQueue('xr-batch-ts');
        [$batchId] = self::peer('batch', $queue, json_encode([
            ['event' => 'create_payment', 'payload' => ['order_id' => 5]],
            ['event' => 'create_order', 'payload' => ['order_id' => 5]],
        ]));
        $bus = new EventBus(Transports::create('redis-lists'), defaultQueue: $queue, batchStore: new RedisBatchStore(self::redis()));
        $seen = [];
        foreach (['create_payment', 'create_order', 'order.success', 'order.failed', 'order.finished', 'order.progress'] as $event) {
            $bus->subscribe($event, function (array $payload) use (&$seen, $event): void {
                $seen[] = [$event, $payload];
            });
        }
        self::work($bus, $queue, maxJobs: 6);
        self::assertSame(['create_payment', 'order.progress', 'create_order', 'order.progress', 'order.success', 'order.finished'], array_column($seen, 0));
        self::assertSame(['batch_id' => $batchId, 'status' => 'succeeded'], array_intersect_key($seen[5][1], ['batch_id' => 1, 'status' => 1]));
    }

    public function testAPhpWorkerWithoutTheStoreReportsStepsToATypeScriptEngine(): void
    {
        $queue = self::uniqueQueue('xr-report');
        [$batchId] = self::peer('batch', $queue, json_encode([['event' => 'create_payment', 'payload' => ['order_id' => 6]]]));
        // PHP runs the step and reports it; the TypeScript engine records the report and fires the lifecycle.
        $bus = new EventBus(Transports::create('redis-lists'), defaultQueue: $queue);
        $ran = [];
        $bus->subscribe('create_payment', function (array $payload) use (&$ran): void {
            $ran[] = $payload['order_id'];
        });
        self::work($bus, $queue, maxJobs: 1);
        self::assertSame([6], $ran);
        $lines = self::peer('engine', $queue, '3', 'order.success', 'order.finished', 'order.progress');
        $events = array_column(array_map(fn (string $line) => json_decode($line, true), $lines), 'event');
        self::assertEqualsCanonicalizing(['order.progress', 'order.success', 'order.finished'], $events);
        self::assertSame('succeeded', (new RedisBatchStore(self::redis()))->get($batchId)['status']);
    }
}

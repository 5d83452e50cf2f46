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
use Thrun\Transport\RedisListsTransport;
use Thrun\Worker\Worker;

/**
 * PHP and the Go service of apps/go-consumer on one Redis list, in both directions, and a batch
 * created in PHP whose steps run on Go.
 */
final class GoTest extends BrokerTestCase
{
    private static string $binary;

    public static function setUpBeforeClass(): void
    {
        self::$binary = sys_get_temp_dir() . '/thrun-go-consumer-' . bin2hex(random_bytes(4));
        $module = dirname(__DIR__, 4) . '/apps/go-consumer';
        exec('cd ' . escapeshellarg($module) . ' && go build -o ' . escapeshellarg(self::$binary) . ' . 2>&1', $output, $code);
        self::assertSame(0, $code, 'go build: ' . implode("\n", $output));
    }

    public static function tearDownAfterClass(): void
    {
        @unlink(self::$binary);
    }

    private static function go(string ...$arguments): array
    {
        exec(implode(' ', array_map('escapeshellarg', [self::$binary, ...$arguments])) . ' 2>&1', $output, $code);
        self::assertSame(0, $code, implode("\n", $output));
        return $output;
    }

    public function testGoProducesAndPhpHandles(): void
    {
        $queue = self::uniqueQueue('xr-go-php');
        self::go('produce', '--redis', self::redisUrl(), '--queue', $queue, '--event', 'go_message', '--payload', '{"text":"hello"}');
        $bus = new EventBus(new RedisListsTransport(self::redis()));
        $handled = [];
        $bus->subscribe('go_message', function (array $payload, HandlerContext $context) use (&$handled): void {
            $handled[] = [$payload, $context->envelope->meta['source'] ?? null];
        });
        self::work($bus, $queue, maxJobs: 1);
        self::assertSame([[['text' => 'hello'], 'go']], $handled);
    }

    public function testPhpDispatchesAndGoValidatesAndConsumes(): void
    {
        $queue = self::uniqueQueue('xr-php-go');
        $bus = new EventBus(new RedisListsTransport(self::redis()), defaultQueue: $queue);
        $id = $bus->event('order_created', ['order_id' => 123, 'note' => 'é/€']);
        [$line] = self::go('consume', '--redis', self::redisUrl(), '--queue', $queue, '--count', '1', '--timeout', '5s');
        $envelope = json_decode($line, true);
        self::assertSame('order_created', $envelope['event']);
        self::assertSame(['order_id' => 123, 'note' => 'é/€'], $envelope['payload']);
        self::assertSame(['php', $id], [$envelope['meta']['source'], $envelope['meta']['event_id']]);
    }

    public function testABatchCreatedInPhpRunsItsStepsOnGo(): void
    {
        $steps = self::uniqueQueue('xr-go-steps');
        $events = self::uniqueQueue('xr-go-events');
        // Steps go to a queue only Go consumes; Go reports each step to the queue of this PHP process,
        // the batch engine, which records it and dispatches what follows (the next step, the lifecycle).
        $routes = ['create_payment' => $steps, 'create_order' => $steps, 'send_order_email' => $steps];
        $bus = new EventBus(new RedisListsTransport(self::redis()), routes: $routes, defaultQueue: $events, batchStore: new RedisBatchStore(self::redis()));
        $bus->acceptBatchReports();
        $batchId = $bus->batch([new CreatePayment(), new CreateOrder(), new SendOrderEmail()])
            ->then('order.success')->catch('order.failed')->finally('order.finished')->progress('order.progress')
            ->dispatch();

        $command = [self::$binary, 'consume', '--redis', self::redisUrl(), '--queue', $steps, '--count', '3', '--timeout', '20s',
            '--listen', 'create_payment', '--listen', 'create_order', '--listen', 'send_order_email', '--route', "thrun.batch.#={$events}"];
        $go = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        self::assertIsResource($go);

        $worker = new Worker($bus, [$events], backoffMs: 20, maxBackoffMs: 200, maxTimeSeconds: 20, idleWaitSeconds: 0.1);
        $lifecycle = [];
        foreach (['order.success', 'order.failed', 'order.finished', 'order.progress'] as $event) {
            $bus->subscribe($event, function (array $payload, HandlerContext $context) use (&$lifecycle, $event, $worker): void {
                $lifecycle[] = [$event, $payload, $context->envelope->eventId()];
                if ($event === 'order.finished') {
                    $worker->stop();
                }
            });
        }
        $worker->run();
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        self::assertSame(0, proc_close($go), "go-consumer failed: {$err}");

        $ran = array_map(fn (string $line) => json_decode($line, true), array_values(array_filter(explode("\n", $out))));
        self::assertSame(['create_payment', 'create_order', 'send_order_email'], array_column($ran, 'event'), 'Go ran each step once, in order');
        self::assertSame([[$batchId, 0], [$batchId, 1], [$batchId, 2]], array_map(fn (array $e) => [$e['meta']['batch']['id'], $e['meta']['batch']['index']], $ran));
        self::assertSame(['order.progress', 'order.progress', 'order.progress', 'order.success', 'order.finished'], array_column($lifecycle, 0), 'each lifecycle event exactly once');
        self::assertSame([RedisBatchStore::eventId($batchId, 'then'), RedisBatchStore::eventId($batchId, 'finally')], [$lifecycle[3][2], $lifecycle[4][2]]);
        self::assertSame(['batch_id' => $batchId, 'status' => 'succeeded', 'completed' => 3, 'failed' => 0, 'total' => 3], array_intersect_key($lifecycle[4][1], array_flip(['batch_id', 'status', 'completed', 'failed', 'total'])));
        self::assertSame(['succeeded', 3], [$bus->batches()->get($batchId)['status'], $bus->batches()->get($batchId)['completed']]);
        $redis = self::redis();
        self::assertSame([0, 0, 0, 0], [$redis->lLen($steps), $redis->lLen($events), $redis->lLen("{$steps}.dead"), $redis->lLen("{$events}.dead")], 'nothing left over, nothing dead-lettered');
    }

    public function testABatchCreatedInPhpRunsItsStepsOnTypeScriptAndGo(): void
    {
        $goSteps = self::uniqueQueue('xr-mixed-go');
        $tsSteps = self::uniqueQueue('xr-mixed-ts');
        $events = self::uniqueQueue('xr-mixed-events');
        // Each process routes the steps alike: the payment and the email to Go, the order to TypeScript,
        // everything else (lifecycle events, Go's step reports) to this PHP process, the batch engine.
        $routes = ['create_payment' => $goSteps, 'send_order_email' => $goSteps, 'create_order' => $tsSteps];
        $bus = new EventBus(new RedisListsTransport(self::redis()), routes: $routes, defaultQueue: $events, batchStore: new RedisBatchStore(self::redis()));
        $bus->acceptBatchReports();
        $batchId = $bus->batch([new CreatePayment(), new CreateOrder(), new SendOrderEmail()])
            ->then('order.success')->catch('order.failed')->finally('order.finished')->progress('order.progress')
            ->dispatch();

        $go = proc_open([self::$binary, 'consume', '--redis', self::redisUrl(), '--queue', $goSteps, '--count', '2', '--timeout', '20s',
            '--listen', 'create_payment', '--listen', 'send_order_email', '--route', "thrun.batch.#={$events}"], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $goPipes);
        // The TypeScript engine records its step in the batch store itself and dispatches what follows.
        $environment = ['THRUN_REDIS_URL' => self::redisUrl(), 'THRUN_PEER_ROUTES' => json_encode($routes + ['#' => $events])] + getenv();
        $ts = proc_open(['node', __DIR__ . '/ts-peer.mjs', 'engine', $tsSteps, '1', 'create_order'], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $tsPipes, null, $environment);
        self::assertIsResource($go);
        self::assertIsResource($ts);

        $worker = new Worker($bus, [$events], backoffMs: 20, maxBackoffMs: 200, maxTimeSeconds: 30, idleWaitSeconds: 0.1);
        $lifecycle = [];
        foreach (['order.success', 'order.failed', 'order.finished', 'order.progress'] as $event) {
            $bus->subscribe($event, function (array $payload) use (&$lifecycle, $event, $worker): void {
                $lifecycle[] = [$event, $payload];
                if ($event === 'order.finished') {
                    $worker->stop();
                }
            });
        }
        $worker->run();
        $lines = static fn (string $out): array => array_map(fn (string $line) => json_decode($line, true), array_values(array_filter(explode("\n", $out))));
        [$goOut, $goErr] = [stream_get_contents($goPipes[1]), stream_get_contents($goPipes[2])];
        [$tsOut, $tsErr] = [stream_get_contents($tsPipes[1]), stream_get_contents($tsPipes[2])];
        self::assertSame(0, proc_close($go), "go-consumer failed: {$goErr}");
        self::assertSame(0, proc_close($ts), "ts-peer failed: {$tsErr}");

        $onGo = $lines($goOut);
        $onTs = $lines($tsOut);
        self::assertSame(['create_payment', 'send_order_email'], array_column($onGo, 'event'), 'Go ran steps 0 and 2, once each');
        self::assertSame(['create_order'], array_column($onTs, 'event'), 'TypeScript ran step 1, once');
        self::assertSame([0, 2, 1], [$onGo[0]['meta']['batch']['index'], $onGo[1]['meta']['batch']['index'], $onTs[0]['meta']['batch']['index']]);
        self::assertSame(['order.progress', 'order.progress', 'order.progress', 'order.success', 'order.finished'], array_column($lifecycle, 0), 'each lifecycle event exactly once');
        self::assertSame([33, 66, 100], array_map(fn (array $e) => $e[1]['percent'], array_slice($lifecycle, 0, 3)));
        self::assertSame(['succeeded', 3], [$bus->batches()->get($batchId)['status'], $bus->batches()->get($batchId)['completed']]);
        $redis = self::redis();
        foreach ([$goSteps, $tsSteps, $events] as $queue) {
            self::assertSame([0, 0], [$redis->lLen($queue), $redis->lLen("{$queue}.dead")], "{$queue}: nothing left over, nothing dead-lettered");
        }
    }
}

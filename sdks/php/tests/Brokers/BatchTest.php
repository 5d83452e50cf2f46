<?php

declare(strict_types=1);

namespace Thrun\Tests\Brokers;

use Thrun\Batch\RedisBatchStore;
use Thrun\Codec\SchemaValidator;
use Thrun\EventBus;
use Thrun\PermanentError;
use Thrun\Tests\Fixtures\Events\CreateOrder;
use Thrun\Tests\Fixtures\Events\CreatePayment;
use Thrun\Tests\Fixtures\Events\SendOrderEmail;
use Thrun\Transport\RedisListsTransport;

final class BatchTest extends BrokerTestCase
{
    private string $queue;
    private EventBus $bus;
    /** @var list<array{string, array}> */
    private array $seen = [];

    protected function setUp(): void
    {
        $this->queue = self::uniqueQueue('batch');
        $this->bus = new EventBus(new RedisListsTransport(self::redis()), defaultQueue: $this->queue, batchStore: new RedisBatchStore(self::redis()));
        foreach (['create_payment', 'create_order', 'send_order_email', 'order.success', 'order.failed', 'order.finished', 'order.progress'] as $event) {
            $this->bus->subscribe($event, function (array $payload) use ($event): void {
                $this->seen[] = [$event, $payload];
            });
        }
    }

    private function events(): array
    {
        return array_column($this->seen, 0);
    }

    private function payloadOf(string $event): array
    {
        $payloads = array_values(array_filter($this->seen, fn ($seen) => $seen[0] === $event));
        self::assertCount(1, $payloads, "{$event} fired exactly once");
        return $payloads[0][1];
    }

    private static function assertSchema(string $schema, array $payload): void
    {
        $issues = SchemaValidator::shared()->validate(json_decode(json_encode($payload)), "https://thrun.dev/schemas/{$schema}.schema.json");
        self::assertSame([], $issues, "{$schema}: " . implode('; ', $issues));
    }

    public function testTheDesignsBatchRunsInOrderAndFiresItsLifecycleOnce(): void
    {
        $batchId = $this->bus->batch([
            new CreatePayment(),
            new CreateOrder(),
            new SendOrderEmail(),
        ])
            ->then('order.success')
            ->catch('order.failed')
            ->finally('order.finished')
            ->progress('order.progress')
            ->dispatch();

        self::work($this->bus, $this->queue, maxJobs: 8);
        self::assertSame([
            'create_payment', 'order.progress', 'create_order', 'order.progress', 'send_order_email', 'order.progress', 'order.success', 'order.finished',
        ], $this->events());
        $progress = array_values(array_filter($this->seen, fn ($seen) => $seen[0] === 'order.progress'));
        self::assertSame([33, 66, 100], array_map(fn ($seen) => $seen[1]['percent'], $progress));
        self::assertSame(['batch_id' => $batchId, 'completed' => 1, 'total' => 3, 'percent' => 33], $progress[0][1]);
        foreach ($progress as [, $payload]) {
            self::assertSchema('batch-progress', $payload);
        }
        self::assertSchema('batch-then', $this->payloadOf('order.success'));
        self::assertSame('succeeded', $this->payloadOf('order.finished')['status']);
        self::assertSchema('batch-finally', $this->payloadOf('order.finished'));
        $status = $this->bus->batches()->get($batchId);
        self::assertSame(['succeeded', 3, 100], [$status['status'], $status['completed'], $status['percent']]);
    }

    public function testAnEngineThatAcceptsReportsNamesItsReportQueueAndAWorkerWithoutTheStoreReportsThere(): void
    {
        $steps = self::uniqueQueue('batch-steps');
        $reports = self::uniqueQueue('batch-reports');
        $engine = new EventBus(new RedisListsTransport(self::redis()), defaultQueue: $reports, routes: ['create_payment' => $steps], batchStore: new RedisBatchStore(self::redis()));
        $engine->acceptBatchReports();
        $ended = [];
        $engine->subscribe('order.finished', function (array $payload) use (&$ended): void {
            $ended[] = $payload;
        });
        $batchId = $engine->batch([new CreatePayment()])->finally('order.finished')->dispatch();

        // Another service: no batch store, so it reports the step to the queue the step names.
        $worker = new EventBus(new RedisListsTransport(self::redis()), defaultQueue: $steps);
        $batch = null;
        $worker->subscribe('create_payment', function (array $payload, \Thrun\HandlerContext $context) use (&$batch): void {
            $batch = $context->envelope->meta['batch'];
        });
        self::work($worker, $steps, maxJobs: 1);
        self::assertSame($reports, $batch['report_to'] ?? null);
        self::work($engine, $reports, maxJobs: 2); // the report, then the finally it decided
        self::assertSame([$batchId], array_column($ended, 'batch_id'));
        self::assertSame('succeeded', $ended[0]['status']);
    }

    public function testAFailedStepFailsTheBatchAndStopsIt(): void
    {
        $this->bus->subscribe('create_order', function (): void {
            throw new PermanentError('out of stock', 'out_of_stock');
        });
        $batchId = $this->bus->batch([new CreatePayment(), new CreateOrder(), new SendOrderEmail()])
            ->with(['order_id' => 7])->catch('order.failed')->finally('order.finished')->dispatch();
        self::work($this->bus, $this->queue, maxJobs: 4, seconds: 2);
        self::assertSame(['create_payment', 'create_order', 'order.failed', 'order.finished'], $this->events());
        $catch = $this->payloadOf('order.failed');
        self::assertSchema('batch-catch', $catch);
        self::assertSame(7, $catch['order_id'], 'the shared payload is merged in');
        self::assertSame(['event' => 'create_order', 'index' => 1], $catch['failed_job']);
        self::assertSame(['code' => 'out_of_stock', 'message' => 'out of stock'], $catch['error']);
        self::assertSame('failed', $this->payloadOf('order.finished')['status']);
        self::assertSame('failed', $this->bus->batches()->get($batchId)['status']);
    }

    public function testCancelFiresCatchAndFinallyAndRunsNothingMore(): void
    {
        $batchId = $this->bus->batch([new CreatePayment(), new CreateOrder()])->catch('order.failed')->finally('order.finished')->dispatch();
        self::assertTrue($this->bus->batches()->cancel($batchId));
        self::assertFalse($this->bus->batches()->cancel($batchId), 'it had ended');
        self::work($this->bus, $this->queue, maxJobs: 3, seconds: 2);
        self::assertSame(['order.failed', 'order.finished'], $this->events(), 'the dispatched first step is dropped');
        self::assertSame('cancelled', $this->payloadOf('order.failed')['reason']);
        self::assertSame('cancelled', $this->payloadOf('order.finished')['status']);
    }

    public function testARedeliveredStepIsNotRunAgain(): void
    {
        $bytes = null;
        $this->bus->subscribe('create_payment', function (array $payload, \Thrun\HandlerContext $context) use (&$bytes): void {
            $bytes = $context->envelope->bytes;
        });
        $this->bus->batch([new CreatePayment()])->then('order.success')->finally('order.finished')->dispatch();
        self::work($this->bus, $this->queue, maxJobs: 3);
        self::assertSame(['create_payment', 'order.success', 'order.finished'], $this->events());
        // The same step message again, as after a crash between recording its outcome and its ack.
        self::redis()->lPush($this->queue, $bytes);
        $worker = self::work($this->bus, $this->queue, maxJobs: 1);
        self::assertSame(1, $worker->stats['dropped']);
        self::assertSame(['create_payment', 'order.success', 'order.finished'], $this->events(), 'neither the step nor its lifecycle ran again');
    }

    public function testARunningStepsLeaseIsRenewedUntilItIsLetGo(): void
    {
        $batchId = $this->bus->batch([new CreatePayment()])->then('order.success')->dispatch();
        $leaseMs = 300;
        $batches = $this->bus->batches();
        $token = $batches->startStep($batchId, 0, $leaseMs);
        self::assertNotNull($token);
        $batches->holdStep($batchId, 0, $token, $leaseMs);
        usleep(3 * $leaseMs * 1000);
        // Another process's copy of the step, three leases later: the step still runs here.
        $elsewhere = new \Thrun\Batch\Batches($this->bus, new RedisBatchStore(self::redis()));
        try {
            $elsewhere->startStep($batchId, 0, $leaseMs);
            self::fail('a renewed lease let a second run start');
        } catch (\RuntimeException $busy) {
            self::assertStringContainsString('still running elsewhere', $busy->getMessage());
        }
        // Let go without an outcome (a crash, in effect): the lease expires and the next copy runs.
        $batches->letGoStep($batchId, 0);
        self::assertNotNull($elsewhere->startStep($batchId, 0, $leaseMs));
    }

    public function testLifecycleEventIdsAreDerivedLikeTheOtherRuntimes(): void
    {
        // Pinned by the TypeScript engine (packages/core/src/batch/event-id.test.ts).
        $batchId = '6f1c1f4e-0d7b-4e55-9a34-2b0c9f1d7c11';
        self::assertSame('6489d55b-e6b4-590c-be16-e0c238a8cf5f', RedisBatchStore::eventId($batchId, 'finally'));
        self::assertSame('0e956f97-19b1-5239-acba-b7e4d36d287c', RedisBatchStore::eventId($batchId, 'step:0'));
    }
}

<?php

declare(strict_types=1);

namespace Thrun\Tests\Brokers;

use Thrun\Batch\RedisBatchStore;
use Thrun\EventBus;
use Thrun\Transport\RabbitMqTransport;
use Thrun\Transport\RedisListsTransport;

/** `bin/thrun work` as a process manager runs it. */
final class WorkerCommandTest extends BrokerTestCase
{
    /** @return array{resource, array} */
    private static function start(string $queue, string ...$options): array
    {
        return self::startWith('slow-handler.php', $queue, ...$options);
    }

    /** @return array{resource, array} */
    private static function startWith(string $bootstrap, string $queue, string ...$options): array
    {
        $command = [PHP_BINARY, dirname(__DIR__, 2) . '/bin/thrun', 'work', '--queue', $queue, '--url', self::redisUrl(),
            '--bootstrap', dirname(__DIR__) . "/Fixtures/bootstrap/{$bootstrap}", ...$options];
        $process = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, ['THRUN_REDIS_URL' => self::redisUrl(), 'THRUN_AMQP_URL' => self::amqpUrl()] + getenv());
        self::assertIsResource($process);
        return [$process, $pipes];
    }

    /** @return array{exitcode: int, signaled: bool, termsig: int} how the worker ended (it is killed past `seconds`) */
    private static function waitForExit($process, float $seconds): array
    {
        $deadline = microtime(true) + $seconds;
        while (($status = proc_get_status($process))['running']) {
            if (microtime(true) > $deadline) {
                proc_terminate($process, SIGKILL);
                self::fail("the worker did not exit within {$seconds} s");
            }
            usleep(20_000);
        }
        return $status;
    }

    public function testSigtermLetsTheRunningHandlerFinishAndAcks(): void
    {
        $queue = self::uniqueQueue('graceful');
        $marks = "{$queue}-marks";
        $bus = new EventBus(new RedisListsTransport(self::redis()));
        $bus->event('slow.job', ['marks' => $marks], ['queue' => $queue]);
        $bus->event('slow.job', ['marks' => $marks], ['queue' => $queue]);
        [$process, $pipes] = self::start($queue);
        $redis = self::redis();
        self::assertNotNull($redis->blPop([$marks], 10) ?: null, 'the handler started');
        $redis->rPush($marks, 'started'); // put the mark back for the final comparison
        proc_terminate($process, SIGTERM);
        self::assertSame(0, self::waitForExit($process, 5)['exitcode']);
        self::assertSame(['started', 'finished'], $redis->lRange($marks, 0, -1), 'the running handler finished; the second never started');
        self::assertSame(1, $redis->lLen($queue), 'the second message is back in the queue');
        self::assertSame(0, $redis->hLen("{{$queue}}:attempts"), 'the unstarted one counts no attempt');
        self::assertSame([], $redis->keys("{{$queue}}:processing:*"));
        self::assertStringContainsString('"why":"stopped"', stream_get_contents($pipes[2]));
    }

    public function testAHandlerStillRunningAtTheDrainDeadlineIsHandedBackForRedelivery(): void
    {
        $queue = self::uniqueQueue('deadline');
        $marks = "{$queue}-marks";
        $bus = new EventBus(new RedisListsTransport(self::redis()));
        $bus->event('long.job', ['marks' => $marks, 'ms' => 30_000], ['queue' => $queue]);
        [$process, $pipes] = self::start($queue, '--drain-timeout', '1');
        $redis = self::redis();
        self::assertSame([$marks, 'started'], $redis->blPop([$marks], 10));
        proc_terminate($process, SIGTERM);
        self::assertSame(0, self::waitForExit($process, 10)['exitcode'], 'it exits at the deadline, not when the 30 s handler ends');
        self::assertSame(0, $redis->lLen($marks), 'the handler never finished');
        self::assertSame(1, $redis->lLen($queue), 'the message is back in the queue');
        self::assertSame([], $redis->keys("{{$queue}}:processing:*"));
        self::assertSame(0, $redis->zCard("{{$queue}}:consumers"), 'its lease was released');
        self::assertStringContainsString('the drain deadline passed', stream_get_contents($pipes[2]));

        // At least once: the next worker gets it, as its second attempt.
        $next = new EventBus(new RedisListsTransport(self::redis()));
        $attempts = [];
        $next->subscribe('long.job', function (array $payload, \Thrun\HandlerContext $context) use (&$attempts): void {
            $attempts[] = $context->attempt;
        });
        self::work($next, $queue, maxJobs: 1);
        self::assertSame([2], $attempts);
        self::assertSame(0, $redis->lLen($queue));
    }

    public function testAKilledWorkerStopsRenewingItsLease(): void
    {
        $queue = self::uniqueQueue('killed');
        $marks = "{$queue}-marks";
        $bus = new EventBus(new RedisListsTransport(self::redis()));
        $bus->event('long.job', ['marks' => $marks, 'ms' => 30_000], ['queue' => $queue]);
        [$process] = self::startWith('short-lease.php', $queue);
        $redis = self::redis();
        self::assertSame([$marks, 'started'], $redis->blPop([$marks], 10));
        proc_terminate($process, SIGKILL);
        self::waitForExit($process, 5);

        // Its lease keeper ends with it: the lease expires and the next consumer gets the message.
        self::assertSame([2], self::attemptsOfTheNextWorker($queue, 'long.job'));
    }

    public function testAHandlerPastTheTimeoutEndsTheWorkerAndTheMessageComesBack(): void
    {
        $queue = self::uniqueQueue('endless');
        $marks = "{$queue}-marks";
        $bus = new EventBus(new RedisListsTransport(self::redis()));
        $bus->event('endless.job', ['marks' => $marks], ['queue' => $queue]);
        [$process, $pipes] = self::startWith('short-lease.php', $queue, '--timeout', '1');
        $redis = self::redis();
        self::assertSame([$marks, 'started'], $redis->blPop([$marks], 10));
        $status = self::waitForExit($process, 15);
        self::assertTrue($status['signaled'] && $status['termsig'] === SIGKILL, 'the worker killed itself');
        self::assertStringContainsString('a handler ran past the timeout', stream_get_contents($pipes[2]));
        self::assertSame([2], self::attemptsOfTheNextWorker($queue, 'endless.job'));
    }

    public function testAStoppedWorkerIsKilledByItsLeaseKeeperAfterTheTimeout(): void
    {
        $queue = self::uniqueQueue('stopped');
        $marks = "{$queue}-marks";
        $bus = new EventBus(new RedisListsTransport(self::redis()));
        $bus->event('long.job', ['marks' => $marks, 'ms' => 30_000], ['queue' => $queue]);
        [$process, $pipes] = self::startWith('short-lease.php', $queue, '--timeout', '1');
        try {
            self::assertSame([$marks, 'started'], self::redis()->blPop([$marks], 10));
            self::assertALeaseKeeperKillsTheWorkerOnceStopped($process, $pipes);
            self::assertSame([2], self::attemptsOfTheNextWorker($queue, 'long.job'));
        } finally {
            if (proc_get_status($process)['running']) {
                proc_terminate($process, SIGKILL);
            }
        }
    }

    public function testAStoppedWorkersBatchStepIsTakenOverAfterItsStepLease(): void
    {
        // On RabbitMQ nothing renews the delivery: the lease keeper renews only the step's run lease.
        $queue = self::uniqueQueue('stopped-step');
        $marks = "{$queue}-marks";
        $bus = new EventBus(RabbitMqTransport::fromUrl(self::amqpUrl()), batchStore: new RedisBatchStore(self::redis(), stepLeaseMs: 300));
        $batchId = $bus->batch([['event' => 'long.job', 'payload' => ['marks' => $marks, 'ms' => 30_000]]])->onQueue($queue)->dispatch();
        [$process, $pipes] = self::startWith('rabbitmq-batch.php', $queue, '--timeout', '1');
        try {
            self::assertSame([$marks, 'started'], self::redis()->blPop([$marks], 10));
            self::assertALeaseKeeperKillsTheWorkerOnceStopped($process, $pipes);
            // Its step lease expires: the step's message, back on RabbitMQ, runs on the next worker.
            self::assertSame([2], self::attemptsOfTheNextWorker($queue, 'long.job', $bus));
            $batch = $bus->batches()->get($batchId);
            self::assertSame(['succeeded', 1], [$batch['status'], $batch['completed']], 'the batch went on');
        } finally {
            if (proc_get_status($process)['running']) {
                proc_terminate($process, SIGKILL);
            }
        }
    }

    /** A stopped process runs no signal handler of its own: only its lease keeper can end it. */
    private static function assertALeaseKeeperKillsTheWorkerOnceStopped($process, array $pipes): void
    {
        posix_kill(proc_get_status($process)['pid'], SIGSTOP);
        $status = self::waitForExit($process, 15);
        self::assertTrue($status['signaled'] && $status['termsig'] === SIGKILL, 'the lease keeper killed the stopped worker');
        self::assertStringContainsString('ran past the timeout', stream_get_contents($pipes[2]));
    }

    /**
     * @param EventBus|null $next the next worker's bus (default: Redis Lists with a 300 ms lease)
     * @return list<int> the attempt with which another worker gets the queue's message
     */
    private static function attemptsOfTheNextWorker(string $queue, string $event, ?EventBus $next = null): array
    {
        $next ??= new EventBus(new RedisListsTransport(self::redis(), leaseMs: 300));
        $attempts = [];
        $next->subscribe($event, function (array $payload, \Thrun\HandlerContext $context) use (&$attempts): void {
            $attempts[] = $context->attempt;
        });
        self::work($next, $queue, maxJobs: 1, seconds: 10);
        return $attempts;
    }

    public function testSigtermWhileIdleStopsPromptly(): void
    {
        $queue = self::uniqueQueue('idle');
        [$process, $pipes] = self::start($queue);
        $redis = self::redis();
        $deadline = microtime(true) + 10;
        while ($redis->zCard("{{$queue}}:consumers") === 0 && microtime(true) < $deadline) {
            usleep(20_000); // until it consumes: its signal handlers are in place by then
        }
        $signalled = microtime(true);
        proc_terminate($process, SIGTERM);
        self::assertSame(0, self::waitForExit($process, 3)['exitcode']);
        self::assertLessThan(2.0, microtime(true) - $signalled);
        self::assertSame(0, self::redis()->zCard("{{$queue}}:consumers"), 'its lease was released');
    }

    public function testMaxJobsAndMaxTimeBoundTheProcess(): void
    {
        $queue = self::uniqueQueue('bounded');
        $marks = "{$queue}-marks";
        $bus = new EventBus(new RedisListsTransport(self::redis()));
        for ($i = 0; $i < 3; $i++) {
            $bus->event('slow.job', ['marks' => $marks], ['queue' => $queue]);
        }
        [$process, $pipes] = self::start($queue, '--max-jobs', '1');
        self::assertSame(0, self::waitForExit($process, 5)['exitcode']);
        self::assertStringContainsString('"why":"max-jobs"', stream_get_contents($pipes[2]));
        self::assertSame(2, self::redis()->lLen($queue));

        $started = microtime(true);
        [$process, $pipes] = self::start(self::uniqueQueue('empty'), '--max-time', '0.5');
        self::assertSame(0, self::waitForExit($process, 5)['exitcode']);
        self::assertStringContainsString('"why":"max-time"', stream_get_contents($pipes[2]));
        self::assertLessThan(3.0, microtime(true) - $started);
    }

    public function testAPoolRunsHandlersAtOnceAndStopsCleanly(): void
    {
        $queue = self::uniqueQueue('pool');
        $marks = "{$queue}-marks";
        $bus = new EventBus(new RedisListsTransport(self::redis()));
        $bus->event('slow.job', ['marks' => $marks], ['queue' => $queue]);
        $bus->event('slow.job', ['marks' => $marks], ['queue' => $queue]);
        [$process] = self::start($queue, '--processes', '2', '--prefetch', '1');
        $redis = self::redis();
        $deadline = microtime(true) + 10;
        while ($redis->lLen($marks) < 2 && microtime(true) < $deadline) {
            usleep(20_000);
        }
        self::assertSame(['started', 'started'], $redis->lRange($marks, 0, 1), 'two handlers ran at once');
        proc_terminate($process, SIGTERM);
        self::assertSame(0, self::waitForExit($process, 5)['exitcode']);
        self::assertSame(['started', 'started', 'finished', 'finished'], $redis->lRange($marks, 0, -1));
        self::assertSame(0, $redis->lLen($queue));
        self::assertSame([], $redis->keys("{{$queue}}:processing:*"));
    }

    public function testAPoolReplacesAChildKilledByTheTimeout(): void
    {
        $queue = self::uniqueQueue('pool-endless');
        $marks = "{$queue}-marks";
        $bus = new EventBus(new RedisListsTransport(self::redis()));
        $bus->event('endless.job', ['marks' => $marks], ['queue' => $queue]);
        [$process, $pipes] = self::startWith('short-lease.php', $queue, '--processes', '2', '--prefetch', '1', '--timeout', '1', '--max-attempts', '3');
        try {
            // Each attempt kills the child running it: a third start needs a child the pool forked again.
            $redis = self::redis();
            $deadline = microtime(true) + 20;
            while ($redis->lLen($marks) < 3 && microtime(true) < $deadline) {
                usleep(20_000);
            }
            self::assertSame(['started', 'started', 'started'], $redis->lRange($marks, 0, 2));
            // Its attempts used, the endless message is dead-lettered, and the pool handles the next one.
            $deadline = microtime(true) + 20;
            while ($redis->lLen("{$queue}.dead") < 1 && microtime(true) < $deadline) {
                usleep(20_000);
            }
            self::assertSame(1, $redis->lLen("{$queue}.dead"), 'dead-lettered once its attempts were used');
            self::assertTrue(proc_get_status($process)['running'], 'the pool goes on');
            $after = "{$queue}-after";
            $bus->event('slow.job', ['marks' => $after], ['queue' => $queue]);
            $deadline = microtime(true) + 20;
            while ($redis->lLen($after) < 2 && microtime(true) < $deadline) {
                usleep(20_000);
            }
            self::assertSame(['started', 'finished'], $redis->lRange($after, 0, -1));
            proc_terminate($process, SIGTERM);
            $code = self::waitForExit($process, 10)['exitcode'];
            $err = stream_get_contents($pipes[2]);
            self::assertSame(0, $code, $err);
            self::assertStringContainsString('worker process replaced', $err);
        } finally {
            if (proc_get_status($process)['running']) {
                proc_terminate($process, SIGKILL);
            }
        }
    }
}

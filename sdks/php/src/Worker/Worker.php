<?php

declare(strict_types=1);

namespace Thrun\Worker;

use Thrun\Codec\DecodeError;
use Thrun\Envelope;
use Thrun\EventBus;
use Thrun\EventName;
use Thrun\HandlerContext;
use Thrun\PermanentError;
use Thrun\Transport\Delivery;
use Thrun\Transport\HandlerWatch;
use Thrun\Transport\LeaseKeeper;

/**
 * Consumes queues and runs the bus's listeners, with the TypeScript worker's rules: an undecodable
 * message is dead-lettered with the codec's reason code; an event nobody listens to follows
 * `unknownEvents` (dead-letter, drop or leave); a failure is retried after the shared backoff until
 * `maxAttempts`, then dead-lettered (`max_attempts`); a `PermanentError` is dead-lettered at once.
 * A delivery past `maxAttempts` is dead-lettered without running again.
 *
 * A handler that runs past `timeoutSeconds` ends the process, as Laravel's `queue:work --timeout`
 * does: SIGALRM kills it (SIGKILL), and, since a stopped or blocked process cannot act on SIGALRM, its
 * lease keepers (the transport's, the batch store's) kill it too once they see the same handler still
 * running a second later; either way nothing renews its leases any more and the message comes back
 * after its lease, as its next attempt, to another worker (at least once), which takes a batch step
 * over once the step's run lease expired.
 *
 * It runs until stopped (SIGTERM/SIGINT through pcntl, or `stop()`), or until one of the bounds a
 * process manager restarts it at: `maxJobs`, `maxTimeSeconds`, `memoryMb`. A stop fetches nothing
 * more, lets the running handler finish within `drainTimeoutMs` and hands back what was fetched and
 * not settled. A handler still running at that deadline is abandoned: its message goes back to the
 * queue as its next attempt and the process exits (status 0). On a crash the transport's lease
 * brings the messages back (at least once).
 */
final class Worker
{
    /** What happened to each delivery, for the CLI's summary and for tests. */
    public array $stats = ['handled' => 0, 'retried' => 0, 'dead_lettered' => 0, 'dropped' => 0, 'left' => 0];
    private bool $stopping = false;
    /** @var array<string, array<int, true>> queue + event id → listeners that already succeeded */
    private array $succeeded = [];
    /** @var list<Delivery> fetched, not settled */
    private array $held = [];
    /** the delivery whose handler runs, not settled yet */
    private ?Delivery $running = null;
    private bool $deadlineArmed = false;
    /** When the drain deadline falls (SIGALRM serves it and the handler timeout). */
    private ?float $drainDeadline = null;
    /** Whether SIGALRM is this worker's, for the timeout or the drain deadline. */
    private bool $alarmTrapped = false;
    private mixed $previousAlarmHandler = null;
    private ?HandlerWatch $watch = null;

    /**
     * @param list<string> $queues
     * @param 'dead-letter'|'drop'|'leave' $unknownEvents
     */
    public function __construct(
        private readonly EventBus $bus,
        private readonly array $queues = ['events'],
        private readonly int $maxAttempts = 5,
        private readonly int $backoffMs = 1_000,
        private readonly int $maxBackoffMs = 60_000,
        private readonly bool $jitter = true,
        private readonly string $unknownEvents = 'dead-letter',
        private readonly int $prefetch = 10,
        private readonly ?int $maxJobs = null,
        private readonly ?float $maxTimeSeconds = null,
        private readonly ?int $memoryMb = null,
        private readonly float $idleWaitSeconds = 1.0,
        private readonly ?\Closure $log = null,
        private ?\Closure $onReady = null,
        private readonly int $drainTimeoutMs = 10_000,
        private readonly int $timeoutSeconds = 60,
    ) {
        if ($timeoutSeconds < 0) {
            throw new \InvalidArgumentException('[thrun] timeoutSeconds must be ≥ 0 (0: no timeout)');
        }
        if (!in_array($unknownEvents, ['dead-letter', 'drop', 'leave'], true)) {
            throw new \InvalidArgumentException('[thrun] unknownEvents must be dead-letter, drop or leave');
        }
        if ($drainTimeoutMs < 0) {
            throw new \InvalidArgumentException('[thrun] drainTimeoutMs must be ≥ 0');
        }
        if ($maxAttempts < 1 || $queues === []) {
            throw new \InvalidArgumentException('[thrun] a worker needs at least one queue and maxAttempts ≥ 1');
        }
    }

    /** Called once the worker is subscribed to every queue: messages published from then on reach it. */
    public function onReady(\Closure $onReady): void
    {
        $this->onReady = $onReady;
    }

    /**
     * Asks the loop to end after the current job (signal-safe): nothing more is fetched, and a handler
     * that runs past `drainTimeoutMs` from now is abandoned (see `drainDeadlinePassed`).
     */
    public function stop(): void
    {
        $this->stopping = true;
        if ($this->running !== null && !$this->deadlineArmed && function_exists('pcntl_alarm')) {
            $this->deadlineArmed = true;
            if ($this->drainTimeoutMs === 0) {
                $this->drainDeadlinePassed();
            }
            // SIGALRM counts whole seconds: the deadline is rounded up to the next one. One alarm
            // serves both deadlines: it rings at the nearer, and `alarmRang` tells which it was.
            $drain = max(1, (int) ceil($this->drainTimeoutMs / 1000));
            $this->drainDeadline = microtime(true) + $drain;
            $this->trapAlarm();
            $timeoutLeft = pcntl_alarm(0);
            pcntl_alarm($timeoutLeft > 0 ? min($timeoutLeft, $drain) : $drain);
        }
    }

    private function trapAlarm(): void
    {
        if (!$this->alarmTrapped) {
            $this->alarmTrapped = true;
            $this->previousAlarmHandler = pcntl_signal_get_handler(SIGALRM);
            pcntl_signal(SIGALRM, function (): void {
                $this->alarmRang();
            });
        }
    }

    private function alarmRang(): void
    {
        if ($this->drainDeadline !== null && microtime(true) >= $this->drainDeadline - 0.05) {
            $this->drainDeadlinePassed();
            return;
        }
        if ($this->running !== null) {
            $this->timedOut($this->running);
        }
    }

    /**
     * A handler ran past `timeoutSeconds`: the process ends at once (SIGKILL, as Laravel's worker
     * ends itself), settling nothing. Its lease keepers end with it, so the message comes back after
     * the lease as its next attempt, to another worker; past `maxAttempts` it is dead-lettered then.
     */
    private function timedOut(Delivery $delivery): never
    {
        $this->log('error', 'a handler ran past the timeout; ending the worker, the message comes back after its lease', [
            'timeoutSeconds' => $this->timeoutSeconds,
            'queue' => $delivery->queue,
            'attempt' => $delivery->attempt,
        ]);
        if (function_exists('posix_kill')) {
            posix_kill(getmypid(), SIGKILL);
        }
        exit(1);
    }

    /**
     * The drain deadline passed while a handler still runs: the worker hands back the running message
     * (its attempt counted, as after a crash), and what it fetched and never started, and ends the
     * process, exiting 0 as after any stop. PHP runs this between two statements of the handler, so
     * a handler blocked inside one long call (a socket read without a timeout) is cut when it returns;
     * whatever happens, the transport's lease still brings the message back.
     */
    private function drainDeadlinePassed(): void
    {
        if ($this->running === null) {
            return; // the handler finished meanwhile: the loop is on its way out
        }
        $this->log('warning', 'the drain deadline passed; handing the running message back', [
            'drainTimeoutMs' => $this->drainTimeoutMs,
            'queue' => $this->running->queue,
            'attempt' => $this->running->attempt,
        ]);
        try {
            $this->bus->transport->close([$this->running]);
        } catch (\Throwable $error) {
            $this->log('error', 'could not hand the messages back; their lease returns them', ['error' => $error->getMessage()]);
        }
        exit(0);
    }

    /** @return string why it ended: stopped, max-jobs, max-time or memory */
    public function run(): string
    {
        $started = microtime(true);
        $jobs = 0;
        $restore = $this->trapSignals();
        try {
            foreach ($this->queues as $queue) {
                $this->bus->transport->subscribe($queue);
            }
            $timeout = $this->timeoutSeconds > 0 && function_exists('pcntl_alarm') ? $this->timeoutSeconds : 0;
            if ($timeout > 0) {
                $this->trapAlarm();
                $this->watch = new HandlerWatch($timeout * 1000);
                LeaseKeeper::watchHandlers($this->watch);
            }
            if ($this->onReady !== null) {
                ($this->onReady)();
            }
            for ($turn = 0; ; $turn++) {
                if ($this->stopping) {
                    return 'stopped';
                }
                if ($this->maxTimeSeconds !== null && microtime(true) - $started >= $this->maxTimeSeconds) {
                    return 'max-time';
                }
                $queue = $this->queues[$turn % count($this->queues)];
                $wait = count($this->queues) === 1 ? $this->idleWaitSeconds : min(0.2, $this->idleWaitSeconds);
                $room = $this->maxJobs === null ? $this->prefetch : min($this->prefetch, $this->maxJobs - $jobs);
                if ($timeout > 0) {
                    pcntl_alarm(0);
                    $this->watch?->idle();
                }
                try {
                    $this->held = $this->bus->transport->fetch($queue, $room, $wait);
                } catch (\RedisException $error) {
                    if ($this->stopping) {
                        return 'stopped'; // a signal interrupted the blocking read
                    }
                    throw $error;
                }
                foreach ($this->held as $delivery) {
                    if ($timeout > 0) {
                        // Armed until the next message or fetch: it covers the handler and its settlement.
                        pcntl_alarm($timeout);
                        $this->watch?->handlerStarted();
                    }
                    $this->running = $delivery;
                    $this->process($delivery);
                    $this->running = null;
                    $jobs++;
                    $this->bus->transport->heartbeat();
                    if ($this->maxJobs !== null && $jobs >= $this->maxJobs) {
                        return 'max-jobs';
                    }
                    if ($this->memoryMb !== null && memory_get_usage(true) >= $this->memoryMb * 1024 * 1024) {
                        return 'memory';
                    }
                    if ($this->stopping) {
                        return 'stopped';
                    }
                }
            }
        } finally {
            if ($this->alarmTrapped) {
                pcntl_alarm(0);
                pcntl_signal(SIGALRM, $this->previousAlarmHandler ?? SIG_DFL);
                [$this->alarmTrapped, $this->deadlineArmed, $this->drainDeadline] = [false, false, null];
            }
            if ($this->watch !== null) {
                LeaseKeeper::watchHandlers(null);
                $this->watch = null;
            }
            $this->bus->transport->close($this->running === null ? [] : [$this->running]);
            $this->running = null;
            $this->held = [];
            $restore();
        }
    }

    /** Handles one delivery and settles it exactly once. */
    public function process(Delivery $delivery): void
    {
        try {
            $envelope = $this->bus->codec->decode($delivery->body);
        } catch (DecodeError $error) {
            $this->log('warning', 'dead-lettering an undecodable message', ['queue' => $delivery->queue, 'reason' => $error->reason]);
            $this->settle(fn () => $delivery->deadLetter($error->reason, $error->getMessage()));
            $this->stats['dead_lettered']++;
            return;
        }
        $listeners = $this->bus->listenersFor($envelope->event);
        if ($listeners === []) {
            $this->unknownEvent($delivery, $envelope);
            return;
        }
        if ($delivery->attempt > $this->maxAttempts) {
            $this->deadLetter($delivery, $envelope, 'max_attempts', "delivered as attempt {$delivery->attempt}, past maxAttempts ({$this->maxAttempts}); not run again");
            return;
        }

        $step = self::stepOf($envelope);
        $lease = null;
        if ($step !== null && ($batches = $this->bus->batches()) !== null) {
            try {
                $lease = $batches->startStep($step['id'], $step['index']);
            } catch (\RuntimeException $busy) {
                $this->settle(fn () => $delivery->retry(Backoff::retryDelayMs($delivery->attempt, $this->backoffMs, $this->maxBackoffMs, $this->jitter)));
                $this->stats['retried']++;
                return;
            }
            if ($lease === null) {
                // Settled already, or a cancelled or failed batch: it runs nothing more.
                $this->settle(fn () => $delivery->ack());
                $this->stats['dropped']++;
                return;
            }
        }

        if ($lease === null) {
            $this->runListeners($delivery, $envelope, $listeners, $step, null);
            return;
        }
        // Renewed while the step runs, so a copy of its message does not start it elsewhere meanwhile.
        $this->bus->batches()->holdStep($step['id'], $step['index'], $lease);
        try {
            $this->runListeners($delivery, $envelope, $listeners, $step, $lease);
        } finally {
            $this->bus->batches()->letGoStep($step['id'], $step['index']);
        }
    }

    /**
     * Runs the listeners of a delivery and settles it by their outcome.
     *
     * @param list<\Thrun\Listener> $listeners
     * @param array{id: string, index: int}|null $step
     */
    private function runListeners(Delivery $delivery, Envelope $envelope, array $listeners, ?array $step, ?string $lease): void
    {
        $context = null; // built for the listeners that take it
        $memory = $envelope->eventId() !== null && count($listeners) > 1 ? "{$delivery->queue}\0{$envelope->eventId()}" : null;
        $errors = [];
        foreach ($listeners as $index => $listener) {
            if ($memory !== null && isset($this->succeeded[$memory][$index])) {
                continue;
            }
            try {
                if ($listener->wantsContext()) {
                    $context ??= new HandlerContext($envelope, $delivery->attempt, $this->maxAttempts, $delivery->queue, $this->bus);
                    $listener->invoke($envelope->payload, $context);
                } else {
                    $listener->invoke($envelope->payload);
                }
                if ($memory !== null) {
                    $this->succeeded[$memory][$index] = true;
                }
            } catch (\Throwable $error) {
                $errors[] = $error;
            }
        }
        if ($errors === []) {
            if ($step !== null) {
                $this->settle(fn () => $this->reportStep($delivery, $step, null));
            }
            $this->ack($delivery);
            if ($memory !== null) {
                unset($this->succeeded[$memory]);
            }
            $this->stats['handled']++;
            return;
        }
        if (count($this->succeeded) > 10_000) {
            array_shift($this->succeeded);
        }

        $message = implode('; ', array_map(static fn (\Throwable $e) => $e->getMessage(), $errors));
        $permanent = array_values(array_filter($errors, static fn (\Throwable $e) => $e instanceof PermanentError));
        $final = $permanent !== [] || $delivery->attempt >= $this->maxAttempts;
        if ($final && $step !== null) {
            $code = $permanent !== [] ? $permanent[0]->reasonCode : 'handler_failed';
            $this->settle(fn () => $this->reportStep($delivery, $step, ['code' => $code, 'message' => $permanent !== [] ? $permanent[0]->getMessage() : $message]));
        }
        if ($permanent !== []) {
            $this->deadLetter($delivery, $envelope, $permanent[0]->reasonCode, $permanent[0]->getMessage());
            return;
        }
        if ($delivery->attempt >= $this->maxAttempts) {
            $this->deadLetter($delivery, $envelope, 'max_attempts', "failed on attempt {$delivery->attempt} of {$this->maxAttempts}: {$message}");
            return;
        }
        if ($lease !== null) {
            $this->settle(fn () => $this->bus->batches()->releaseStep($step['id'], $step['index'], $lease));
        }
        $delayMs = Backoff::retryDelayMs($delivery->attempt, $this->backoffMs, $this->maxBackoffMs, $this->jitter);
        $this->log('info', 'retrying', ['event' => $envelope->event, 'attempt' => $delivery->attempt, 'delayMs' => $delayMs, 'error' => $message]);
        $this->settle(fn () => $delivery->retry($delayMs));
        $this->stats['retried']++;
    }

    /**
     * A batch step's final outcome: recorded in the batch store when the bus has one (this process is
     * a batch engine), else reported for an engine to record (schemas/batch.md): to the queue the
     * step names in `meta.batch.report_to`, or else to the step's own queue.
     * Either happens before the step's message is settled.
     */
    private function reportStep(Delivery $delivery, array $step, ?array $error): void
    {
        $batches = $this->bus->batches();
        if ($batches !== null) {
            $batches->recordStep($step['id'], $step['index'], $error);
            return;
        }
        $report = ['batch_id' => $step['id'], 'index' => $step['index']] + ($error === null ? [] : ['error' => $error]);
        $this->bus->event($error === null ? EventBus::STEP_SUCCEEDED : EventBus::STEP_FAILED, $report, ['queue' => self::reportQueue($step, $delivery)]);
    }

    /** Where a step's report goes; a `report_to` that is no queue name would fail every report and loop the step. */
    private static function reportQueue(array $step, Delivery $delivery): string
    {
        $reportTo = $step['report_to'] ?? null;
        return is_string($reportTo) && EventName::isValid($reportTo) ? $reportTo : $delivery->queue;
    }

    /** @return array{id: string, index: int}|null */
    private static function stepOf(Envelope $envelope): ?array
    {
        $batch = $envelope->meta['batch'] ?? null;
        return is_array($batch) && is_string($batch['id'] ?? null) && is_int($batch['index'] ?? null) ? $batch : null;
    }

    private function unknownEvent(Delivery $delivery, Envelope $envelope): void
    {
        switch ($this->unknownEvents) {
            case 'drop':
                $this->settle(fn () => $delivery->ack());
                $this->stats['dropped']++;
                return;
            case 'leave':
                // Back in the queue for a consumer that knows it; the delay stops this one spinning on it.
                $this->settle(fn () => $delivery->retry($this->backoffMs));
                $this->stats['left']++;
                return;
            default:
                $this->deadLetter($delivery, $envelope, 'unknown_event', 'no listener for ' . json_encode($envelope->event) . ' on queue ' . json_encode($delivery->queue));
        }
    }

    private function deadLetter(Delivery $delivery, Envelope $envelope, string $code, string $message): void
    {
        $this->log('warning', 'dead-lettering', ['event' => $envelope->event, 'queue' => $delivery->queue, 'attempt' => $delivery->attempt, 'reason' => $code]);
        $this->settle(fn () => $delivery->deadLetter($code, $message));
        if ($envelope->eventId() !== null) {
            unset($this->succeeded["{$delivery->queue}\0{$envelope->eventId()}"]);
        }
        $this->stats['dead_lettered']++;
    }

    /** The common settlement, without a closure; a refusal goes on as `settle` does. */
    private function ack(Delivery $delivery): void
    {
        try {
            $delivery->ack();
        } catch (\RedisException|\AMQPException|\RuntimeException $error) {
            $this->log('error', 'the broker refused a settlement; trying again', ['error' => $error->getMessage()]);
            if ($this->stopping) {
                throw $error;
            }
            $this->settlementRefused();
            usleep(Backoff::delayMs(1, 100, 5_000, true) * 1000);
            $this->settle(static fn () => $delivery->ack(), 2);
        }
    }

    /**
     * Runs a settlement until the broker takes it (a refused write is tried again after the shared
     * refusal backoff, 100 ms doubling to 5 s). Once stopping, it gives up: the lease brings the
     * message back.
     */
    private function settle(\Closure $settlement, int $firstAttempt = 1): void
    {
        for ($attempt = $firstAttempt; ; $attempt++) {
            try {
                $settlement();
                return;
            } catch (\RedisException|\AMQPException|\RuntimeException $error) {
                $this->log('error', 'the broker refused a settlement; trying again', ['error' => $error->getMessage()]);
                if ($this->stopping) {
                    throw $error;
                }
                $this->settlementRefused();
                usleep(Backoff::delayMs($attempt, 100, 5_000, true) * 1000);
            }
        }
    }

    /** The handler is done: waiting on a refusing broker is no handler running past its timeout. */
    private function settlementRefused(): void
    {
        if ($this->alarmTrapped && $this->drainDeadline === null) {
            pcntl_alarm(0);
        }
        $this->watch?->idle();
    }

    /** @return \Closure(): void restores the previous handlers */
    private function trapSignals(): \Closure
    {
        if (!function_exists('pcntl_signal')) {
            return static function (): void {
            };
        }
        $async = pcntl_async_signals(true);
        $previous = [SIGTERM => pcntl_signal_get_handler(SIGTERM), SIGINT => pcntl_signal_get_handler(SIGINT)];
        foreach ([SIGTERM, SIGINT] as $signal) {
            pcntl_signal($signal, function (): void {
                $this->stop();
            });
        }
        return function () use ($async, $previous): void {
            foreach ($previous as $signal => $handler) {
                // Stopped by a signal, the process is on its way out: a second one (a process group
                // signalled twice) must not kill it before it exits cleanly.
                pcntl_signal($signal, $this->stopping ? SIG_IGN : $handler);
            }
            pcntl_async_signals($async);
        };
    }

    private function log(string $level, string $message, array $fields = []): void
    {
        if ($this->log !== null) {
            ($this->log)($level, $message, $fields);
        }
    }
}

<?php

declare(strict_types=1);

namespace Thrun\Batch;

use Thrun\EventBus;

/**
 * Batch status and cancel, and the one way emissions leave the store: published with their derived
 * event ids (and `meta.batch` for a step), then forgotten; given back when publishing failed.
 */
final class Batches
{
    public function __construct(private readonly EventBus $bus, private readonly RedisBatchStore $store)
    {
    }

    /**
     * @return array<string, mixed>|null id, name, mode, status, total, completed, failed, percent,
     *         createdAt, updatedAt, finishedAt, failure
     */
    public function get(string $id): ?array
    {
        $record = $this->store->get($id);
        if ($record === null) {
            return null;
        }
        $done = $record['completed'] + $record['failed'];
        unset($record['lifecycle'], $record['shared'], $record['queue'], $record['settled']);
        return $record + ['percent' => $record['total'] === 0 ? 100 : intdiv($done * 100, $record['total'])];
    }

    /** Stops further steps and fires catch (`cancelled`) and finally; false when it had already ended. */
    public function cancel(string $id): bool
    {
        [$emissions, $queue] = $this->store->cancel($id);
        self::publish($this->bus, $this->store, $id, $queue, $emissions);
        return $emissions !== [];
    }

    /** Records a step's final outcome (null error: succeeded) and publishes what it decided. */
    public function recordStep(string $id, int $index, ?array $error = null): void
    {
        [$emissions, $queue] = $this->store->recordStep($id, $index, $error);
        self::publish($this->bus, $this->store, $id, $queue, $emissions);
    }

    /**
     * Takes a step's run lease (the store's `stepLeaseMs` unless given) before it runs, as the
     * TypeScript engine does: returns the lease token when the step should run, null when it must
     * not (already settled, or the batch ended). While another run holds the lease it waits up to two
     * lease lengths, then throws, and the worker retries the copy later. A step of a batch this store
     * does not know runs as an ordinary event.
     */
    public function startStep(string $id, int $index, ?int $leaseMs = null): ?string
    {
        $leaseMs ??= $this->store->stepLeaseMs;
        $token = \Thrun\Envelope::uuid();
        $deadline = microtime(true) + 2 * $leaseMs / 1000;
        while (($start = $this->store->startStep($id, $index, $token, $leaseMs)) === 'busy' && microtime(true) < $deadline) {
            usleep((int) min($leaseMs / 4, 1_000) * 1000);
        }
        return match ($start) {
            'run', 'unknown' => $token,
            // A duplicate of a finished step: never run again, but publish what its first delivery
            // decided and did not get out.
            'settled' => $this->recordAgain($id, $index),
            'ended' => null,
            default => throw new \RuntimeException("[thrun] step {$index} of batch {$id} is still running elsewhere"),
        };
    }

    /** Keeps a step's run lease (from `startStep`) alive while it runs, until `letGoStep`. */
    public function holdStep(string $id, int $index, string $token, ?int $leaseMs = null): void
    {
        $this->store->keepRenewing($id, $index, $token, $leaseMs ?? $this->store->stepLeaseMs);
    }

    /** Stops renewing a step's run lease; recording its outcome or releasing it ends the lease itself. */
    public function letGoStep(string $id, int $index): void
    {
        $this->store->stopRenewing($id, $index);
    }

    /** Gives a step's lease back without an outcome (it will be retried). */
    public function releaseStep(string $id, int $index, string $token): void
    {
        $this->store->releaseStep($id, $index, $token);
    }

    private function recordAgain(string $id, int $index): ?string
    {
        $this->recordStep($id, $index);
        return null;
    }

    /** @param list<array> $emissions */
    public static function publish(EventBus $bus, RedisBatchStore $store, string $id, ?string $queue, array $emissions): void
    {
        if ($emissions === []) {
            return;
        }
        $items = [];
        foreach ($emissions as $emission) {
            $options = ['eventId' => RedisBatchStore::eventId($id, $emission['key'])];
            if (isset($emission['batch'])) {
                $reportTo = $bus->reportQueue();
                $options['meta'] = ['batch' => $emission['batch'] + ($reportTo === null ? [] : ['report_to' => $reportTo])];
            }
            if ($queue !== null) {
                $options['queue'] = $queue;
            }
            $items[] = ['event' => $emission['event'], 'payload' => $emission['payload'], 'options' => $options];
        }
        $keys = array_column($emissions, 'key');
        try {
            $bus->events($items);
        } catch (\Throwable $error) {
            $store->release($id, $keys);
            throw $error;
        }
        $store->markEmitted($id, $keys);
    }
}

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

    /** Whether a step of this batch should still run: false once it was cancelled or failed. */
    public function isRunning(string $id): bool
    {
        $record = $this->store->get($id);
        return $record === null || $record['status'] === 'running';
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
                $options['meta'] = ['batch' => $emission['batch']];
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

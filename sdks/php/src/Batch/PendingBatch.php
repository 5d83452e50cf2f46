<?php

declare(strict_types=1);

namespace Thrun\Batch;

use Thrun\EventBus;
use Thrun\EventName;

/**
 * `$bus->batch([...])->then('order.success')->catch('order.failed')->finally('order.finished')
 * ->progress('order.progress')->dispatch()`: the chain names the lifecycle events, `dispatch()` creates
 * the batch in the store and publishes its first step (every step in parallel mode), and returns the
 * batch id. Nothing is sent before `dispatch()`: PHP has no end-of-chain moment to hook (a destructor
 * runs at an unpredictable time, cannot return the id and must not throw), so the chain ends
 * explicitly, as Laravel's `Bus::batch(...)->dispatch()` does.
 */
final class PendingBatch
{
    private array $lifecycle = [];
    private array $shared = [];
    private string $mode = 'sequential';
    private int $allowFailures = 0;
    private ?string $queue = null;
    private ?string $name = null;

    /** @param list<object|array{event: string|object, payload?: array}> $steps */
    public function __construct(private readonly EventBus $bus, private readonly RedisBatchStore $store, private readonly array $steps)
    {
    }

    public function then(string|object $event): self
    {
        return $this->on('thenEvent', $event);
    }

    public function catch(string|object $event): self
    {
        return $this->on('catchEvent', $event);
    }

    public function finally(string|object $event): self
    {
        return $this->on('finallyEvent', $event);
    }

    public function progress(string|object $event): self
    {
        return $this->on('progressEvent', $event);
    }

    /** Merged into every lifecycle event's payload (e.g. `['order_id' => 1]`). */
    public function with(array $shared): self
    {
        $this->shared = $shared;
        return $this;
    }

    /** Every step at once; the batch fails on the first failure beyond `allowFailures`. */
    public function parallel(int $allowFailures = 0): self
    {
        $this->mode = 'parallel';
        $this->allowFailures = $allowFailures;
        return $this;
    }

    /** The queue of its steps and lifecycle events (else each event's route). */
    public function onQueue(string $queue): self
    {
        $this->queue = EventName::assertValid($queue);
        return $this;
    }

    public function name(string $name): self
    {
        $this->name = $name;
        return $this;
    }

    /** Creates the batch and publishes what it starts with; returns its id. */
    public function dispatch(): string
    {
        $jobs = [];
        foreach ($this->steps as $step) {
            [$target, $payload] = EventBus::unpack($step);
            $jobs[] = ['event' => EventName::of($target), 'payload' => $payload];
        }
        $id = \Thrun\Envelope::uuid();
        $emissions = $this->store->create($id, $jobs, $this->lifecycle, $this->shared, $this->mode, $this->allowFailures, $this->queue, $this->name);
        Batches::publish($this->bus, $this->store, $id, $this->queue, $emissions);
        return $id;
    }

    private function on(string $role, string|object $event): self
    {
        $this->lifecycle[$role] = EventName::of($event);
        return $this;
    }
}

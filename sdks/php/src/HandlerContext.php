<?php

declare(strict_types=1);

namespace Thrun;

/**
 * What a handler gets beside its payload: the whole envelope, the attempt, and dispatch functions that
 * set `causation_id` to this event and carry its `correlation_id` and `traceparent` on.
 */
final class HandlerContext
{
    public function __construct(
        public readonly Envelope $envelope,
        public readonly int $attempt,
        public readonly int $maxAttempts,
        public readonly ?string $queue,
        private readonly EventBus $bus,
    ) {
    }

    /** The event's name (what matched, for a wildcard listener). */
    public function name(): string
    {
        return $this->envelope->event;
    }

    /** Dispatches an event caused by this one; returns its `meta.event_id`. */
    public function event(string|object $target, array $payload = [], array $options = []): string
    {
        return $this->bus->event($target, $payload, $options + ['parent' => $this->envelope]);
    }

    /** @param list<array{event: string|object, payload?: array}|object> $items @return list<string> */
    public function events(array $items): array
    {
        return $this->bus->events($items, ['parent' => $this->envelope]);
    }
}

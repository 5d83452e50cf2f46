<?php

declare(strict_types=1);

namespace Thrun\Transport;

/**
 * Moves envelope bytes, never interprets them. Each implementation speaks the wire documented in the
 * repository's `protocol/` for its broker, so TypeScript and Go processes share its queues.
 */
interface Transport
{
    /**
     * Publishes messages (envelope bytes) to a queue, in order; with a delay, none is delivered before
     * it passes.
     *
     * @param list<string> $messages
     */
    public function publish(string $queue, array $messages, int $delayMs = 0): void;

    /**
     * Prepares to consume a queue (declarations, the consumer's registration), so that every message
     * published from then on reaches this consumer's group. `fetch` does it too, on first use.
     */
    public function subscribe(string $queue): void;

    /**
     * Takes up to `max` messages from the queue, waiting up to `timeoutSeconds` when none is there.
     * Each must then be settled once (ack, retry or dead-letter).
     *
     * @return list<Delivery>
     */
    public function fetch(string $queue, int $max, float $timeoutSeconds): array;

    /**
     * Gives back what was taken and not settled (counting an attempt for each message whose handler
     * started), and ends this process's consumer registrations (leases). The transport stays usable:
     * a later fetch starts a new consumer.
     *
     * @param list<Delivery> $started
     */
    public function close(array $started = []): void;

    /** Keeps leases alive while a long handler runs; cheap to call often. */
    public function heartbeat(): void;
}

<?php

declare(strict_types=1);

namespace Thrun\Transport;

/**
 * Queues in this process's memory, for unit tests of handlers and for `thrun` without a broker. It
 * keeps dead letters in the frame form, as Redis does, so tests can read them the same way.
 */
final class InMemoryTransport implements Transport
{
    /** @var array<string, list<array{body: string, attempt: int}>> */
    public array $queues = [];
    /** @var array<string, list<string>> queue → dead-letter frames */
    public array $dead = [];

    public function publish(string $queue, array $messages, int $delayMs = 0): void
    {
        foreach ($messages as $body) {
            $this->queues[$queue][] = ['body' => $body, 'attempt' => 1];
        }
    }

    public function subscribe(string $queue): void
    {
    }

    public function fetch(string $queue, int $max, float $timeoutSeconds): array
    {
        $deliveries = [];
        while (count($deliveries) < $max && ($this->queues[$queue] ?? []) !== []) {
            $message = array_shift($this->queues[$queue]);
            $deliveries[] = new InMemoryDelivery($this, $queue, $message['body'], $message['attempt']);
        }
        return $deliveries;
    }

    public function close(array $started = []): void
    {
    }

    public function heartbeat(): void
    {
    }
}

<?php

declare(strict_types=1);

namespace Thrun\Transport;

final class InMemoryDelivery extends Delivery
{
    public function __construct(private readonly InMemoryTransport $transport, string $queue, string $body, int $attempt)
    {
        parent::__construct($queue, $body, $attempt);
    }

    public function ack(): void
    {
    }

    /** The delay is not waited for: in memory, a retry is due at once. */
    public function retry(int $delayMs): void
    {
        $this->transport->queues[$this->queue][] = ['body' => $this->body, 'attempt' => $this->attempt + 1];
    }

    public function deadLetter(string $code, string $message): void
    {
        $this->transport->dead[$this->queue][] = DeadLetter::frame($this->queue, $code, $message, $this->attempt, $this->body);
    }
}

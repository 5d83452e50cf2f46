<?php

declare(strict_types=1);

namespace Thrun\Transport;

/** A message in this consumer's processing list; settled by its bytes. */
final class RedisListsDelivery extends Delivery
{
    public function __construct(private readonly RedisListsTransport $transport, string $queue, string $body, int $attempt)
    {
        parent::__construct($queue, $body, $attempt);
    }

    public function ack(): void
    {
        $this->transport->ack($this);
    }

    public function retry(int $delayMs): void
    {
        $this->transport->settle($this, 'retry', [$delayMs, bin2hex(random_bytes(8))]);
    }

    public function deadLetter(string $code, string $message): void
    {
        $this->transport->settle($this, 'dead-letter', [DeadLetter::frame($this->queue, $code, $message, $this->attempt, $this->body)]);
    }
}

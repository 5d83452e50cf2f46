<?php

declare(strict_types=1);

namespace Thrun\Transport;

/** A stream entry pending for this consumer's group; settled by its entry id. */
final class RedisStreamsDelivery extends Delivery
{
    public function __construct(private readonly RedisStreamsTransport $transport, string $queue, public readonly string $id, string $body, int $attempt)
    {
        parent::__construct($queue, $body, $attempt);
    }

    public function ack(): void
    {
        $this->transport->settle($this, 'ack', []);
    }

    /** Parked in the group's retry set; any consumer of the group claims it once due (0: at once). */
    public function retry(int $delayMs): void
    {
        $this->transport->settle($this, 'retry', [$delayMs]);
    }

    public function deadLetter(string $code, string $message): void
    {
        $this->transport->settle($this, 'dead-letter', [DeadLetter::frame($this->queue, $code, $message, $this->attempt, $this->body)]);
    }
}

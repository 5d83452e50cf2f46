<?php

declare(strict_types=1);

namespace Thrun\Transport;

/** One message taken from a queue: its bytes, its attempt (1 on first delivery) and how to settle it. */
abstract class Delivery
{
    public function __construct(
        public readonly string $queue,
        public readonly string $body,
        public readonly int $attempt,
    ) {
    }

    abstract public function ack(): void;

    /** Back to the queue, as its next attempt, after `delayMs`. */
    abstract public function retry(int $delayMs): void;

    /** To `<queue>.dead` with a dead-letter description (`schemas/dead-letter.schema.json`). */
    abstract public function deadLetter(string $code, string $message): void;
}

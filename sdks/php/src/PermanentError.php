<?php

declare(strict_types=1);

namespace Thrun;

/**
 * Thrown by a handler to say that trying again cannot help: the worker dead-letters the message at
 * once, with this error's code (`non_retryable` unless given) and message, instead of retrying.
 * Any other exception is retried up to `maxAttempts`.
 */
class PermanentError extends \RuntimeException
{
    public function __construct(string $message, public readonly string $reasonCode = 'non_retryable', ?\Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
    }

    public static function from(\Throwable $error): self
    {
        return $error instanceof self ? $error : new self($error->getMessage(), 'non_retryable', $error);
    }
}

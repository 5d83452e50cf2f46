<?php

declare(strict_types=1);

namespace Thrun\Codec;

/** An envelope that cannot be sent: `invalid_payload`, `schema_violation` or `payload_too_large`. */
final class EncodeError extends \InvalidArgumentException
{
    /** @param list<string> $issues */
    public function __construct(public readonly string $reason, string $message, public readonly array $issues = [])
    {
        parent::__construct(str_starts_with($message, '[thrun') ? $message : "[thrun:contract] {$message}");
    }
}

<?php

declare(strict_types=1);

namespace Thrun\Codec;

/**
 * Bytes that are not an envelope. `code` is one of the codec vectors' codes (`schemas/vectors/codec`),
 * the same as the TypeScript and Go codecs raise: payload_too_large, invalid_utf8, invalid_json,
 * duplicate_key, forbidden_key, too_deep, unsafe_integer, schema_violation.
 */
final class DecodeError extends \RuntimeException
{
    /** @param list<string> $issues schema violations, for `schema_violation` */
    public function __construct(
        public readonly string $reason,
        string $message,
        public readonly array $issues = [],
    ) {
        parent::__construct("[thrun:contract] {$message}");
    }
}

<?php

declare(strict_types=1);

namespace Thrun\Transport;

use Thrun\Envelope;

/**
 * The description of a dead letter (`schemas/dead-letter.schema.json`), as every runtime writes it:
 * the frame form for Redis (one JSON line, a line feed, the original bytes) and the `thrun-dead-*`
 * headers for brokers with headers. Code and message are cut by `protocol/headers.json`'s
 * `deadLetter.reasonLimits` rule.
 */
final class DeadLetter
{
    public const CODE_BYTES = 255;
    public const MESSAGE_BYTES = 1024;

    /** @return array{queue: string, error: array{code: string, message: string}, attempts: int, failed_at: string} */
    public static function metadata(string $queue, string $code, string $message, int $attempts): array
    {
        return [
            'queue' => $queue,
            'error' => [
                'code' => self::truncate($code, self::CODE_BYTES),
                'message' => self::truncate($message, self::MESSAGE_BYTES),
            ],
            'attempts' => $attempts,
            'failed_at' => Envelope::now(),
        ];
    }

    public static function frame(string $queue, string $code, string $message, int $attempts, string $body): string
    {
        return self::json(self::metadata($queue, $code, $message, $attempts)) . "\n" . $body;
    }

    /** @return array<string, string> the headers form */
    public static function headers(string $queue, string $code, string $message, int $attempts): array
    {
        $metadata = self::metadata($queue, $code, $message, $attempts);
        return [
            'thrun-dead-queue' => $metadata['queue'],
            'thrun-dead-error-code' => $metadata['error']['code'],
            'thrun-dead-error-message' => $metadata['error']['message'],
            'thrun-dead-attempts' => (string) $attempts,
            'thrun-dead-failed-at' => $metadata['failed_at'],
        ];
    }

    /** JSON as JavaScript's JSON.stringify writes it (no escaped slashes or non-ASCII characters). */
    public static function json(mixed $value): string
    {
        return json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_LINE_TERMINATORS | JSON_INVALID_UTF8_SUBSTITUTE | JSON_THROW_ON_ERROR);
    }

    /** At most `maxBytes` UTF-8 bytes: the longest prefix of whole characters within maxBytes − 3, then `…`. */
    public static function truncate(string $text, int $maxBytes): string
    {
        // A text that is not UTF-8 (an exception message with raw bytes) is made valid first.
        if (preg_match('//u', $text) !== 1) {
            $text = (string) json_decode(json_encode($text, JSON_INVALID_UTF8_SUBSTITUTE));
        }
        if (strlen($text) <= $maxBytes) {
            return $text;
        }
        preg_match_all('/./su', $text, $characters);
        $kept = '';
        foreach ($characters[0] as $character) {
            if (strlen($kept) + strlen($character) > $maxBytes - 3) {
                break;
            }
            $kept .= $character;
        }
        return $kept . '…';
    }
}

<?php

declare(strict_types=1);

namespace Thrun;

/**
 * The one message every runtime sends (`schemas/envelope.schema.json`): an event name, its payload
 * and, optionally, `meta` (who, when, which flow). Payload and meta are PHP arrays; the bytes it was
 * decoded from are kept, since a transport settles a message by its exact bytes.
 */
final class Envelope
{
    /** The envelope specification this runtime follows (`meta.spec_version`). */
    public const SPEC_VERSION = '1.0';

    /**
     * @param array<string, mixed> $payload
     * @param array<string, mixed>|null $meta
     */
    public function __construct(
        public readonly string $event,
        public readonly array $payload = [],
        public readonly ?array $meta = null,
        public readonly ?string $bytes = null,
    ) {
    }

    /** @internal built by the codec from a validated tree */
    public static function fromDecoded(\stdClass $value, string $bytes): self
    {
        return new self(
            $value->event,
            self::toArray($value->payload),
            isset($value->meta) ? self::toArray($value->meta) : null,
            $bytes,
        );
    }

    public function eventId(): ?string
    {
        return $this->meta['event_id'] ?? null;
    }

    /** UUID version 4 (RFC 9562), lowercase. */
    public static function uuid(): string
    {
        $bytes = random_bytes(16);
        $bytes[6] = chr((ord($bytes[6]) & 0x0f) | 0x40);
        $bytes[8] = chr((ord($bytes[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
    }

    /** The time now as RFC 3339 UTC with milliseconds, as the other runtimes write it. */
    public static function now(): string
    {
        return (new \DateTimeImmutable('now', new \DateTimeZone('UTC')))->format('Y-m-d\TH:i:s.v\Z');
    }

    /** @return array<mixed> */
    private static function toArray(\stdClass $object): array
    {
        $array = [];
        foreach (get_object_vars($object) as $key => $value) {
            $array[$key] = self::plain($value);
        }
        return $array;
    }

    private static function plain(mixed $value): mixed
    {
        if ($value instanceof \stdClass) {
            return self::toArray($value);
        }
        if (is_array($value)) {
            return array_map(self::plain(...), $value);
        }
        return $value;
    }
}

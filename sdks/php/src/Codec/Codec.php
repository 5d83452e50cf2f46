<?php

declare(strict_types=1);

namespace Thrun\Codec;

use Thrun\Envelope;

/**
 * The safe codec, the only way bytes become an `Envelope` and back, with the TypeScript codec's rules
 * and error codes (`schemas/vectors/codec/`). Decoding checks, in this order, so the cheapest check
 * rejects first: size (before reading a byte), strict UTF-8, one pass of `JsonParser`, then the
 * envelope schema.
 */
final class Codec
{
    public const DEFAULT_MAX_BYTES = 1024 * 1024;
    public const DEFAULT_MAX_DEPTH = 64;
    public const ENVELOPE_SCHEMA = 'https://thrun.dev/schemas/envelope.schema.json';

    /** false: the envelope schema is not the one the fast path implements */
    private EnvelopeFastPath|false|null $fastPath = null;

    public function __construct(
        private readonly int $maxBytes = self::DEFAULT_MAX_BYTES,
        private readonly int $maxDepth = self::DEFAULT_MAX_DEPTH,
    ) {
    }

    /**
     * Most messages are decoded by `EnvelopeFastPath` in one walk; whatever it is unsure of (every
     * message with a problem) takes the exact path, which decides and names the error.
     *
     * @throws DecodeError
     */
    public function decode(string $bytes): Envelope
    {
        $size = strlen($bytes);
        if ($size > $this->maxBytes) {
            throw new DecodeError('payload_too_large', "message of {$size} bytes exceeds the limit of {$this->maxBytes}");
        }
        $this->fastPath ??= EnvelopeFastPath::implements(SchemaValidator::shared()->schema(self::ENVELOPE_SCHEMA))
            ? new EnvelopeFastPath($this->maxDepth)
            : false;
        return ($this->fastPath === false ? null : $this->fastPath->decode($bytes)) ?? $this->decodeExactly($bytes);
    }

    /** The exact path: strict UTF-8, the strict parser, then the envelope schema. */
    public function decodeExactly(string $bytes): Envelope
    {
        if (strlen($bytes) > $this->maxBytes) {
            throw new DecodeError('payload_too_large', 'message of ' . strlen($bytes) . " bytes exceeds the limit of {$this->maxBytes}");
        }
        if (preg_match('//u', $bytes) !== 1) {
            throw new DecodeError('invalid_utf8', 'message is not valid UTF-8');
        }
        $value = JsonParser::parse($bytes, $this->maxDepth);
        $issues = SchemaValidator::shared()->validate($value, self::ENVELOPE_SCHEMA);
        if ($issues !== []) {
            throw new DecodeError('schema_violation', 'envelope breaks the schema: ' . implode('; ', $issues), $issues);
        }
        return Envelope::fromDecoded($value, $bytes);
    }

    /**
     * An envelope → its JSON bytes, which `decode` accepts by construction: they are decoded again
     * before they leave, so an integer outside ±(2^53−1), a `__proto__` key, nesting too deep or a
     * schema violation is refused here (`EncodeError`), never by the consumer.
     *
     * @throws EncodeError
     */
    public function encode(Envelope $envelope): string
    {
        $document = ['event' => $envelope->event, 'payload' => (object) $envelope->payload];
        if ($envelope->meta !== null) {
            $document['meta'] = (object) $envelope->meta;
        }
        try {
            $bytes = json_encode($document, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR, $this->maxDepth + 1);
        } catch (\JsonException $error) {
            throw new EncodeError('invalid_payload', "cannot encode the envelope: {$error->getMessage()}");
        }
        try {
            $this->decode($bytes);
        } catch (DecodeError $error) {
            $reason = match ($error->reason) {
                'schema_violation' => 'schema_violation',
                'payload_too_large' => 'payload_too_large',
                default => 'invalid_payload',
            };
            throw new EncodeError($reason, $error->getMessage(), $error->issues);
        }
        return $bytes;
    }
}

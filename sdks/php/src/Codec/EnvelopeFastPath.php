<?php

declare(strict_types=1);

namespace Thrun\Codec;

use Thrun\Envelope;

/**
 * The common case of `Codec::decode` in one walk: bytes `json_decode` accepted, then a single pass
 * over the tree that checks what the strict parser would refuse (a `__proto__` key, nesting beyond
 * the depth, a number a double may have rounded, a duplicate key through the member count), checks
 * the envelope schema and builds the envelope's arrays, all at once, without closures or paths.
 *
 * It only ever accepts: anything it is unsure of (any problem, a rare shape) returns null, and the
 * exact path (strict parser, then the schema validator) decides and names the error. It is the
 * envelope schema written out by hand, so it runs only while `schemas/envelope.schema.json` is the one
 * it was written for (`SCHEMA_FINGERPRINT`, over its validation keywords); another schema falls back
 * to the exact path for every message, and a unit test says the fingerprint must be looked at again.
 */
final class EnvelopeFastPath
{
    /** sha1 of the envelope schema's validation keywords (descriptions and examples left out). */
    public const SCHEMA_FINGERPRINT = 'fd5a817499fc5393b4ee2fa6ac1bce7321b1374b';

    private const MAX_SAFE = 9007199254740991;
    private const EVENT_NAME = '/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/D';
    private const UUID = '/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/D';
    private const DATE_TIME = '/^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$/D';
    private const TRACEPARENT = '/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/D';
    private const SPEC_VERSION = '/^[0-9]{1,4}\.[0-9]{1,4}$/D';
    /** A `:` outside every string: as many as the text has object members. */
    private const MEMBER_COLON = '/"(?:[^"\\\\]++|\\\\.)*+"(*SKIP)(*FAIL)|:/s';

    /** Object members seen by the walk, compared with the text's colons (json_decode keeps the last of duplicate keys). */
    private int $members = 0;
    /** Set when the walk meets something only the exact path may judge. */
    private bool $unsure = false;

    public function __construct(private readonly int $maxDepth)
    {
    }

    /** Whether `schema` (the envelope schema as loaded) is the one this fast path implements. */
    public static function implements(\stdClass $schema): bool
    {
        return self::fingerprint($schema) === self::SCHEMA_FINGERPRINT;
    }

    public static function fingerprint(\stdClass $schema): string
    {
        return sha1(json_encode(self::keywords($schema), JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
    }

    private static function keywords(mixed $schema): mixed
    {
        if (is_array($schema)) {
            return array_map(self::keywords(...), $schema);
        }
        if (!$schema instanceof \stdClass) {
            return $schema;
        }
        $kept = [];
        foreach ($schema as $key => $value) {
            if (!in_array($key, ['description', 'examples', 'title', 'format', '$comment'], true)) {
                $kept[$key] = self::keywords($value);
            }
        }
        ksort($kept);
        return (object) $kept;
    }

    /** The envelope of `bytes`, or null when the exact path must decide. */
    public function decode(string $bytes): ?Envelope
    {
        $root = json_decode($bytes, false, 512);
        if (!$root instanceof \stdClass) {
            return null; // not JSON, or not an object: the exact path names the problem
        }
        $this->members = 0;
        $this->unsure = false;
        $event = $payload = $meta = null;
        foreach ($root as $key => $child) {
            $this->members++;
            if ($key === 'event') {
                $event = $child;
            } elseif ($key === 'payload') {
                if (!$child instanceof \stdClass) {
                    return null;
                }
                $payload = $this->object($child, 2);
            } elseif ($key === 'meta') {
                $meta = $this->meta($child);
            } else {
                return null; // additionalProperties: false
            }
        }
        if ($this->unsure || $payload === null || !is_string($event) || strlen($event) > 255 || preg_match(self::EVENT_NAME, $event) !== 1) {
            return null;
        }
        if (preg_match_all(self::MEMBER_COLON, $bytes) !== $this->members) {
            return null; // a duplicate key
        }
        return new Envelope($event, $payload, $meta, $bytes);
    }

    /** `meta`: its known keys checked, the others taken as any JSON value. */
    private function meta(mixed $meta): ?array
    {
        if (!$meta instanceof \stdClass) {
            $this->unsure = true;
            return null;
        }
        $array = [];
        $required = 0;
        foreach ($meta as $key => $value) {
            $this->members++;
            switch ($key) {
                case 'event_id':
                    $required++;
                    $ok = is_string($value) && preg_match(self::UUID, $value) === 1;
                    break;
                case 'timestamp':
                    $required++;
                    $ok = is_string($value) && strlen($value) <= 64 && preg_match(self::DATE_TIME, $value) === 1;
                    break;
                case 'source':
                    $required++;
                    $ok = self::shortText($value);
                    break;
                case 'correlation_id':
                case 'causation_id':
                    $ok = self::shortText($value);
                    break;
                case 'attempt':
                    $ok = is_int($value) && $value >= 1 && $value <= self::MAX_SAFE;
                    break;
                case 'traceparent':
                    $ok = is_string($value) && preg_match(self::TRACEPARENT, $value) === 1;
                    break;
                case 'spec_version':
                    $ok = is_string($value) && preg_match(self::SPEC_VERSION, $value) === 1;
                    break;
                case 'batch':
                    $ok = $value instanceof \stdClass && isset($value->id, $value->index, $value->total)
                        && is_string($value->id) && preg_match(self::UUID, $value->id) === 1
                        && is_int($value->index) && $value->index >= 0 && is_int($value->total) && $value->total >= 1;
                    break;
                default:
                    $ok = $key !== '__proto__';
            }
            if (!$ok) {
                $this->unsure = true;
                return null;
            }
            $array[$key] = $this->value($value, 3);
        }
        if ($required !== 3) {
            $this->unsure = true;
        }
        return $array;
    }

    /** 1 to 255 characters, decided by the byte length alone (longer ones go to the exact path). */
    private static function shortText(mixed $value): bool
    {
        return is_string($value) && $value !== '' && strlen($value) <= 255;
    }

    private function value(mixed $value, int $depth): mixed
    {
        if ($value instanceof \stdClass) {
            return $this->object($value, $depth);
        }
        if (is_array($value)) {
            if ($depth > $this->maxDepth) {
                $this->unsure = true;
                return null;
            }
            foreach ($value as $index => $child) {
                if (is_array($child) || $child instanceof \stdClass) {
                    $value[$index] = $this->value($child, $depth + 1);
                } elseif ((is_int($child) || is_float($child)) && !($child <= self::MAX_SAFE && $child >= -self::MAX_SAFE)) {
                    $this->unsure = true; // INF and NAN fail the test too
                }
            }
            return $value;
        }
        if ((is_int($value) || is_float($value)) && !($value <= self::MAX_SAFE && $value >= -self::MAX_SAFE)) {
            $this->unsure = true;
        }
        return $value;
    }

    /** @return array<mixed> */
    private function object(\stdClass $object, int $depth): array
    {
        if ($depth > $this->maxDepth) {
            $this->unsure = true;
            return [];
        }
        $array = [];
        foreach ($object as $key => $child) {
            $this->members++;
            if ($key === '__proto__') {
                $this->unsure = true;
            }
            if (is_array($child) || $child instanceof \stdClass) {
                $array[$key] = $this->value($child, $depth + 1);
            } else {
                if ((is_int($child) || is_float($child)) && !($child <= self::MAX_SAFE && $child >= -self::MAX_SAFE)) {
                    $this->unsure = true;
                }
                $array[$key] = $child;
            }
        }
        return $array;
    }
}

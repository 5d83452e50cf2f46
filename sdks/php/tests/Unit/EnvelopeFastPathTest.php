<?php

declare(strict_types=1);

namespace Thrun\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Thrun\Codec\Codec;
use Thrun\Codec\DecodeError;
use Thrun\Codec\EnvelopeFastPath;
use Thrun\Codec\SchemaValidator;

/**
 * The codec's fast path may only ever accept what the exact path (strict parser, then the schema)
 * accepts, with the same envelope: checked on every codec vector and every envelope schema vector.
 */
final class EnvelopeFastPathTest extends TestCase
{
    public function testItImplementsTheEnvelopeSchemaOfTheRepository(): void
    {
        $schema = SchemaValidator::shared()->schema(Codec::ENVELOPE_SCHEMA);
        self::assertTrue(
            EnvelopeFastPath::implements($schema),
            'schemas/envelope.schema.json changed: bring EnvelopeFastPath in line with it, then set SCHEMA_FINGERPRINT to ' . EnvelopeFastPath::fingerprint($schema),
        );
    }

    /** @return iterable<string, array{string}> */
    public static function inputs(): iterable
    {
        foreach (VectorsTest::codecCases() as $name => [$bytes]) {
            yield $name => [$bytes];
        }
        foreach (VectorsTest::schemaCases() as $name => [$schemaId, $data]) {
            if ($schemaId === Codec::ENVELOPE_SCHEMA) {
                yield $name => [json_encode($data, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION)];
            }
        }
        yield 'a duplicate key in meta' => ['{"event":"a","payload":{},"meta":{"event_id":"0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e","timestamp":"2026-01-01T00:00:00Z","source":"x","source":"y"}}'];
        yield 'a colon inside strings' => ['{"event":"a","payload":{"a:b":"c:\"d:","e":[":"]}}'];
        yield '__proto__ in meta' => ['{"event":"a","payload":{},"meta":{"event_id":"0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e","timestamp":"2026-01-01T00:00:00Z","source":"x","__proto__":1}}'];
        yield 'a payload list' => ['{"event":"a","payload":[]}'];
        yield 'a large float in a list' => ['{"event":"a","payload":{"a":[1e300]}}'];
        yield 'a batch with a float index' => ['{"event":"a","payload":{},"meta":{"event_id":"0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e","timestamp":"2026-01-01T00:00:00Z","source":"x","batch":{"id":"0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e","index":1.0,"total":2}}}'];
        yield 'a long non-ASCII source' => ['{"event":"a","payload":{},"meta":{"event_id":"0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e","timestamp":"2026-01-01T00:00:00Z","source":"' . str_repeat('é', 200) . '"}}'];
    }

    /** @dataProvider inputs */
    public function testItAcceptsOnlyWhatTheExactPathAcceptsAlike(string $bytes): void
    {
        $codec = new Codec();
        try {
            $exact = $codec->decodeExactly($bytes);
        } catch (DecodeError $error) {
            $exact = $error->reason;
        }
        // The size is checked before either path runs.
        $fast = strlen($bytes) > Codec::DEFAULT_MAX_BYTES ? null : (new EnvelopeFastPath(Codec::DEFAULT_MAX_DEPTH))->decode($bytes);
        if ($fast !== null) {
            self::assertFalse(is_string($exact), "the fast path accepted what the exact path refuses (" . (is_string($exact) ? $exact : "") . ")");
            self::assertSame(serialize($exact), serialize($fast));
        }
        try {
            $decoded = $codec->decode($bytes);
            self::assertSame(serialize($exact), serialize($decoded));
        } catch (DecodeError $error) {
            self::assertSame($exact, $error->reason);
        }
    }

    public function testItDecodesWhatTheBusSends(): void
    {
        $codec = new Codec();
        $bytes = $codec->encode(new \Thrun\Envelope('order.created', ['order_id' => 1, 'lines' => [['sku' => 'a', 'qty' => 2.5]], 'note' => null], [
            'event_id' => '0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e', 'timestamp' => '2026-01-01T00:00:00.000Z', 'source' => 'php',
            'spec_version' => '1.0', 'attempt' => 2, 'correlation_id' => 'c', 'causation_id' => 'd',
            'traceparent' => '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
            'batch' => ['id' => '9d2f4c1a-7b3e-4f6a-8c5d-2e1f0a9b8c7d', 'index' => 0, 'total' => 3, 'report_to' => 'events'], 'tenant' => 'acme',
        ]));
        $fast = (new EnvelopeFastPath(Codec::DEFAULT_MAX_DEPTH))->decode($bytes);
        self::assertNotNull($fast);
        self::assertSame(serialize($codec->decodeExactly($bytes)), serialize($fast));
    }
}

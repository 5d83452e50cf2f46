<?php

declare(strict_types=1);

namespace Thrun\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Thrun\Codec\Codec;
use Thrun\Codec\DecodeError;
use Thrun\Codec\JsonParser;
use Thrun\Codec\Paths;
use Thrun\Codec\SchemaValidator;

/** Every file of `schemas/vectors/`: the codec cases and the schema suites, as every runtime runs them. */
final class VectorsTest extends TestCase
{
    /** @return iterable<string, array{string, \stdClass}> */
    public static function codecCases(): iterable
    {
        foreach (glob(Paths::schemas() . '/vectors/codec/*.json') as $file) {
            $vectors = json_decode((string) file_get_contents($file), false, 512, JSON_THROW_ON_ERROR);
            foreach ($vectors->cases as $case) {
                $name = 'codec/' . basename($file) . ': ' . $case->description;
                if (isset($case->input)) {
                    $bytes = $case->input;
                } elseif (isset($case->input_base64)) {
                    $bytes = base64_decode($case->input_base64, true);
                } else {
                    $repeat = $case->input_repeat;
                    $bytes = $repeat->prefix . str_repeat($repeat->repeat, $repeat->count) . $repeat->suffix;
                }
                yield $name => [$bytes, $case->expect];
            }
        }
    }

    /** @dataProvider codecCases */
    public function testCodecVector(string $bytes, \stdClass $expect): void
    {
        $codec = new Codec();
        if (isset($expect->error)) {
            try {
                $codec->decode($bytes);
                self::fail("expected {$expect->error}");
            } catch (DecodeError $error) {
                self::assertSame($expect->error, $error->reason, $error->getMessage());
            }
            return;
        }
        $envelope = $codec->decode($bytes);
        $expected = json_decode(json_encode($expect->envelope), true);
        $actual = ['event' => $envelope->event, 'payload' => $envelope->payload];
        if ($envelope->meta !== null) {
            $actual['meta'] = $envelope->meta;
        }
        // Numbers compare by value (1.0 equals 1), as the vectors say.
        self::assertEquals($expected, $actual);
    }

    /** @dataProvider codecCases */
    public function testTheFastPathAndTheExactParserAgree(string $bytes, \stdClass $expect): void
    {
        if (preg_match('//u', $bytes) !== 1) {
            $this->addToAssertionCount(1); // not UTF-8: neither parser sees it
            return;
        }
        $outcome = static function (\Closure $parse): mixed {
            try {
                return json_encode($parse());
            } catch (DecodeError $error) {
                return $error->reason;
            }
        };
        self::assertSame(
            $outcome(fn () => JsonParser::parseExactly($bytes)),
            $outcome(fn () => JsonParser::parse($bytes)),
        );
    }

    /** @return iterable<string, array{string, mixed, bool}> */
    public static function schemaCases(): iterable
    {
        foreach (['envelope', 'batch'] as $folder) {
            foreach (glob(Paths::schemas() . "/vectors/{$folder}/*.json") as $file) {
                $suites = json_decode((string) file_get_contents($file), false, 512, JSON_THROW_ON_ERROR);
                foreach ($suites as $suite) {
                    foreach ($suite->tests as $test) {
                        $name = "{$folder}/" . basename($file) . ": {$suite->description} › {$test->description}";
                        yield $name => [$suite->schema->{'$ref'}, $test->data, $test->valid];
                    }
                }
            }
        }
    }

    /** @dataProvider schemaCases */
    public function testSchemaVector(string $schemaId, mixed $data, bool $valid): void
    {
        $issues = SchemaValidator::shared()->validate($data, $schemaId);
        self::assertSame($valid, $issues === [], implode('; ', $issues));
    }

    public function testEveryVectorFolderIsCovered(): void
    {
        $folders = array_map('basename', glob(Paths::schemas() . '/vectors/*', GLOB_ONLYDIR));
        sort($folders);
        self::assertSame(['batch', 'codec', 'envelope'], $folders);
    }
}

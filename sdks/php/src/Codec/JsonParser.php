<?php

declare(strict_types=1);

namespace Thrun\Codec;

/**
 * A JSON parser for hostile input, the rules of the TypeScript codec: a duplicate key is
 * `duplicate_key` (json_decode would keep the last one silently), a `__proto__` key is `forbidden_key`,
 * nesting beyond `maxDepth` is `too_deep`, an integer token outside ±(2^53−1) or a number beyond a
 * double's range is `unsafe_integer`, anything else that is not RFC 8259 JSON is `invalid_json`. The
 * first problem in text order wins, as in the other runtimes. Objects become `stdClass` (so `{}` and `[]`
 * stay apart for the schema), arrays lists. The input must already be valid UTF-8.
 */
final class JsonParser
{
    private const STRING = '/\G"(?:[^"\\\\\x00-\x1f]++|\\\\["\\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})*+"/';
    private const NUMBER = '/\G-?(?:0|[1-9][0-9]*+)(\.[0-9]++)?([eE][+-]?[0-9]++)?/';
    private const MAX_SAFE = 9007199254740991;

    private int $at = 0;
    private int $length;

    private function __construct(private readonly string $text, private readonly int $maxDepth)
    {
        $this->length = strlen($text);
    }

    public static function parse(string $text, int $maxDepth = 64): mixed
    {
        // Fast path: json_decode, accepted only when nothing it is lenient about can be there (same
        // member count as the text has keys, so no duplicate; no __proto__; within the depth; no
        // float a double may have rounded). Anything else, errors included, takes the exact parser,
        // which finds the first problem in text order.
        $value = json_decode($text, false, 512);
        if (json_last_error() === JSON_ERROR_NONE) {
            $members = 0;
            if (self::plain($value, 1, $maxDepth, $members)
                && substr_count((string) preg_replace(self::ANY_STRING, '', $text), ':') === $members) {
                return $value;
            }
        }
        return self::parseExactly($text, $maxDepth);
    }

    private const ANY_STRING = '/"(?:[^"\\\\]++|\\\\.)*+"/s';

    /** Whether a decoded value holds nothing the exact parser would refuse; counts object members. */
    private static function plain(mixed $value, int $depth, int $maxDepth, int &$members): bool
    {
        if (is_int($value) || is_float($value)) {
            return $value <= self::MAX_SAFE && $value >= -self::MAX_SAFE; // INF and NAN fail too
        }
        if (!is_array($value) && !$value instanceof \stdClass) {
            return true;
        }
        if ($depth > $maxDepth) {
            return false;
        }
        foreach ($value instanceof \stdClass ? get_object_vars($value) : $value as $key => $child) {
            if ($value instanceof \stdClass) {
                $members++;
                if ($key === '__proto__') {
                    return false;
                }
            }
            if (!self::plain($child, $depth + 1, $maxDepth, $members)) {
                return false;
            }
        }
        return true;
    }

    /** The parser itself: one pass, the first problem in text order raises its code. */
    public static function parseExactly(string $text, int $maxDepth = 64): mixed
    {
        $parser = new self($text, $maxDepth);
        $value = $parser->value(0);
        $parser->skipWhitespace();
        if ($parser->at < $parser->length) {
            $parser->fail('invalid_json', "unexpected {$parser->describe()} after the JSON value");
        }
        return $value;
    }

    /** Recursion is bounded by `maxDepth`: a container deeper than it is rejected before descending. */
    private function value(int $depth): mixed
    {
        $this->skipWhitespace();
        $c = $this->text[$this->at] ?? '';
        switch ($c) {
            case '{':
                return $this->object($depth + 1);
            case '[':
                return $this->list($depth + 1);
            case '"':
                return $this->string();
            case 't':
                return $this->literal('true', true);
            case 'f':
                return $this->literal('false', false);
            case 'n':
                return $this->literal('null', null);
        }
        if ($c === '-' || ($c >= '0' && $c <= '9')) {
            return $this->number();
        }
        $this->unexpected();
    }

    private function object(int $depth): \stdClass
    {
        $this->enter($depth);
        $object = new \stdClass();
        $this->skipWhitespace();
        if (($this->text[$this->at] ?? '') === '}') {
            $this->at++;
            return $object;
        }
        for (;;) {
            $this->skipWhitespace();
            if (($this->text[$this->at] ?? '') !== '"') {
                $this->unexpected();
            }
            $keyStart = $this->at;
            $key = $this->string();
            if ($key === '__proto__') {
                $this->at = $keyStart;
                $this->fail('forbidden_key', 'forbidden key "__proto__"');
            }
            if (property_exists($object, $key)) {
                $this->at = $keyStart;
                $shown = strlen($key) > 64 ? substr($key, 0, 64) . '…' : $key;
                $this->fail('duplicate_key', 'duplicate key ' . json_encode($shown, JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE));
            }
            $this->skipWhitespace();
            if (($this->text[$this->at] ?? '') !== ':') {
                $this->unexpected();
            }
            $this->at++;
            $object->{$key} = $this->value($depth);
            $this->skipWhitespace();
            $next = $this->text[$this->at] ?? '';
            $this->at++;
            if ($next === '}') {
                return $object;
            }
            if ($next !== ',') {
                $this->at--;
                $this->unexpected();
            }
        }
    }

    /** @return list<mixed> */
    private function list(int $depth): array
    {
        $this->enter($depth);
        $list = [];
        $this->skipWhitespace();
        if (($this->text[$this->at] ?? '') === ']') {
            $this->at++;
            return $list;
        }
        for (;;) {
            $list[] = $this->value($depth);
            $this->skipWhitespace();
            $next = $this->text[$this->at] ?? '';
            $this->at++;
            if ($next === ']') {
                return $list;
            }
            if ($next !== ',') {
                $this->at--;
                $this->unexpected();
            }
        }
    }

    private function enter(int $depth): void
    {
        if ($depth > $this->maxDepth) {
            $this->fail('too_deep', "nesting deeper than {$this->maxDepth}");
        }
        $this->at++;
    }

    private function string(): string
    {
        if (preg_match(self::STRING, $this->text, $match, 0, $this->at) !== 1) {
            $this->failInString();
        }
        $token = $match[0];
        $this->at += strlen($token);
        if (!str_contains($token, '\\')) {
            return substr($token, 1, -1);
        }
        // The token is well formed: json_decode resolves its escapes, and refuses a lone surrogate.
        $value = json_decode($token, false, 1);
        if (!is_string($value)) {
            $this->at -= strlen($token);
            $this->fail('invalid_json', 'lone surrogate in a \\u escape');
        }
        return $value;
    }

    /** Says what is wrong with the string that starts at `at`, for the error message. */
    private function failInString(): never
    {
        $i = $this->at + 1;
        while ($i < $this->length) {
            $c = $this->text[$i];
            if ($c === '"') {
                break;
            }
            if (ord($c) < 0x20) {
                $this->at = $i;
                $this->fail('invalid_json', 'unescaped control character in a string');
            }
            if ($c === '\\') {
                $this->at = $i;
                $this->fail('invalid_json', 'invalid escape in a string');
            }
            $i++;
        }
        $this->at = $i;
        $this->fail('invalid_json', 'unterminated string');
    }

    private function number(): int|float
    {
        if (preg_match(self::NUMBER, $this->text, $match, 0, $this->at) !== 1) {
            $this->at++;
            $this->unexpected();
        }
        $token = $match[0];
        $start = $this->at;
        $this->at += strlen($token);
        $next = $this->text[$this->at] ?? '';
        if ($next >= '0' && $next <= '9') {
            $this->fail('invalid_json', 'leading zero in a number');
        }
        if ($next === '.' || $next === 'e' || $next === 'E') {
            $this->at++;
            $this->unexpected();
        }
        $isInteger = ($match[1] ?? '') === '' && ($match[2] ?? '') === '';
        $value = (float) $token;
        if ($isInteger ? abs($value) > self::MAX_SAFE : !is_finite($value)) {
            $this->at = $start;
            $this->fail('unsafe_integer', $isInteger ? 'integer outside ±(2^53−1)' : 'number outside the range of a double');
        }
        return $isInteger ? (int) $token : $value;
    }

    private function literal(string $literal, mixed $value): mixed
    {
        if (substr_compare($this->text, $literal, $this->at, strlen($literal)) !== 0) {
            $this->unexpected();
        }
        $this->at += strlen($literal);
        return $value;
    }

    private function skipWhitespace(): void
    {
        $this->at += strspn($this->text, " \n\r\t", $this->at);
    }

    private function unexpected(): never
    {
        $this->fail('invalid_json', $this->at >= $this->length ? 'unexpected end of JSON' : "unexpected {$this->describe()}");
    }

    private function describe(): string
    {
        $c = $this->text[$this->at];
        return ord($c) >= 0x20 && ord($c) < 0x7f ? "'{$c}'" : sprintf('byte 0x%02X', ord($c));
    }

    private function fail(string $code, string $problem): never
    {
        throw new DecodeError($code, "{$problem} at offset {$this->at}");
    }
}

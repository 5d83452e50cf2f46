<?php

declare(strict_types=1);

namespace Thrun;

use Thrun\Attribute\ThrunEvent;

/**
 * Event names and patterns, by the rules of `schemas/envelope.schema.json` and the other runtimes:
 * lowercase words joined by `.`, `_` or `-`; in a pattern a `.`-segment may be `*` (exactly one
 * segment) or `#` (zero or more).
 */
final class EventName
{
    private const NAME = '/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/D';

    public static function isValid(string $name): bool
    {
        return strlen($name) <= 255 && preg_match(self::NAME, $name) === 1;
    }

    public static function assertValid(string $name): string
    {
        if (!self::isValid($name)) {
            throw new \InvalidArgumentException("[thrun] invalid event name " . json_encode($name) . ": use lowercase a-z, 0-9 joined by '.', '_' or '-'");
        }
        return $name;
    }

    public static function isPattern(string $pattern): bool
    {
        if ($pattern === '' || strlen($pattern) > 255) {
            return false;
        }
        foreach (explode('.', $pattern) as $segment) {
            if ($segment !== '*' && $segment !== '#' && preg_match(self::NAME, $segment) !== 1) {
                return false;
            }
        }
        return true;
    }

    public static function isWildcard(string $pattern): bool
    {
        return array_intersect(explode('.', $pattern), ['*', '#']) !== [];
    }

    public static function matches(string $pattern, string $name): bool
    {
        if (!self::isWildcard($pattern)) {
            return $pattern === $name;
        }
        return self::matchSegments(explode('.', $pattern), 0, explode('.', $name), 0);
    }

    /**
     * The contract name of a dispatch target: an event name as is, or an event class (or instance)
     * through its `#[ThrunEvent]` attribute.
     */
    public static function of(string|object $target): string
    {
        if (is_object($target) || class_exists($target)) {
            $class = new \ReflectionClass($target);
            $attribute = $class->getAttributes(ThrunEvent::class)[0] ?? null;
            if ($attribute === null) {
                throw new \InvalidArgumentException("[thrun] {$class->getName()} has no #[ThrunEvent('name')] attribute: an event class must declare its contract name");
            }
            return self::assertValid($attribute->newInstance()->name);
        }
        return self::assertValid($target);
    }

    /** A subscription target: a pattern, or an event class resolved to its name. */
    public static function patternOf(string $target): string
    {
        if (class_exists($target)) {
            return self::of($target);
        }
        if (!self::isPattern($target)) {
            throw new \InvalidArgumentException("[thrun] invalid event pattern " . json_encode($target) . ": segments are event names, '*' (one segment) or '#' (any number)");
        }
        return $target;
    }

    /** @param list<string> $pattern @param list<string> $name */
    private static function matchSegments(array $pattern, int $p, array $name, int $n): bool
    {
        $patternLength = count($pattern);
        while ($p < $patternLength) {
            $segment = $pattern[$p];
            if ($segment === '#') {
                while (($pattern[$p + 1] ?? null) === '#') {
                    $p++;
                }
                if ($p === $patternLength - 1) {
                    return true;
                }
                for ($skip = $n; $skip <= count($name); $skip++) {
                    if (self::matchSegments($pattern, $p + 1, $name, $skip)) {
                        return true;
                    }
                }
                return false;
            }
            if ($n >= count($name) || ($segment !== '*' && $segment !== $name[$n])) {
                return false;
            }
            $p++;
            $n++;
        }
        return $n === count($name);
    }
}

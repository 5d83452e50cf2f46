<?php

declare(strict_types=1);

namespace Thrun\Codec;

/**
 * Validates values against the repository's JSON Schemas (`schemas/*.schema.json`), read as they are,
 * so PHP enforces exactly what the TypeScript and Go runtimes do. It implements the keywords those
 * schemas use (type, required, properties, additionalProperties, enum, const, pattern, minLength,
 * maxLength, minimum, maximum, items, oneOf, not, $ref); `format` is an annotation there, as here.
 * Values are as `JsonParser` returns them: objects are `stdClass`, arrays are lists.
 *
 * Each schema is compiled once into closures, one per keyword that applies, since every message
 * a worker takes is validated.
 */
final class SchemaValidator
{
    /** @var array<string, \stdClass> schema `$id` → schema */
    private array $schemas = [];
    /** @var array<string, \Closure> "<document> <ref>" → compiled check */
    private array $compiled = [];

    private static ?self $shared = null;

    private const NON_ASCII = '/[\x80-\xff]/';

    public function __construct(string $schemasDirectory)
    {
        foreach (glob(rtrim($schemasDirectory, '/') . '/*.schema.json') ?: [] as $file) {
            $schema = json_decode((string) file_get_contents($file), false, 512, JSON_THROW_ON_ERROR);
            $this->schemas[$schema->{'$id'}] = $schema;
        }
    }

    /** The validator of the schemas beside the package (the repository's `schemas/`), loaded once. */
    public static function shared(): self
    {
        return self::$shared ??= new self(Paths::schemas());
    }

    /** The schema of `$id` `schemaId`, as loaded. */
    public function schema(string $schemaId): \stdClass
    {
        return $this->schemas[$schemaId] ?? throw new \InvalidArgumentException("unknown schema {$schemaId}");
    }

    /**
     * @return list<string> the problems found, each `<JSON Pointer>: <what>`; empty when valid
     */
    public function validate(mixed $value, string $schemaId): array
    {
        $issues = [];
        $this->reference($schemaId, $schemaId)($value, '', $issues);
        return $issues;
    }

    /** The compiled check of a `$ref` from document `base`, compiled on first use (refs may recurse). */
    private function reference(string $ref, string $base): \Closure
    {
        $key = "{$base} {$ref}";
        if (!isset($this->compiled[$key])) {
            $target = null;
            $this->compiled[$key] = static function (mixed $value, string $path, array &$issues) use (&$target): void {
                $target($value, $path, $issues);
            };
            $target = $this->compile($this->resolve($ref, $base), $this->baseOf($ref, $base));
            $this->compiled[$key] = $target;
        }
        return $this->compiled[$key];
    }

    private function compile(\stdClass|bool $schema, string $base): \Closure
    {
        if ($schema === true) {
            return static function (): void {
            };
        }
        if ($schema === false) {
            return static function (mixed $value, string $path, array &$issues): void {
                $issues[] = "{$path}: not allowed";
            };
        }
        $checks = [];
        if (isset($schema->{'$ref'})) {
            $checks[] = $this->reference($schema->{'$ref'}, $base);
        }
        if (property_exists($schema, 'const')) {
            $const = $schema->const;
            $checks[] = static function (mixed $value, string $path, array &$issues) use ($const): void {
                if (!self::equal($value, $const)) {
                    $issues[] = "{$path}: must be " . json_encode($const);
                }
            };
        }
        if (isset($schema->enum)) {
            $options = $schema->enum;
            $checks[] = static function (mixed $value, string $path, array &$issues) use ($options): void {
                foreach ($options as $option) {
                    if (self::equal($value, $option)) {
                        return;
                    }
                }
                $issues[] = "{$path}: must be one of " . json_encode($options);
            };
        }
        $checks = [...$checks, ...$this->stringChecks($schema), ...$this->numberChecks($schema), ...$this->objectChecks($schema, $base)];
        if (isset($schema->items)) {
            $item = $this->compile($schema->items, $base);
            $checks[] = static function (mixed $value, string $path, array &$issues) use ($item): void {
                if (is_array($value)) {
                    foreach ($value as $index => $child) {
                        $item($child, "{$path}/{$index}", $issues);
                    }
                }
            };
        }
        if (isset($schema->oneOf)) {
            $options = array_map(fn ($option) => $this->compile($option, $base), $schema->oneOf);
            $checks[] = static function (mixed $value, string $path, array &$issues) use ($options): void {
                $matches = 0;
                foreach ($options as $option) {
                    $optionIssues = [];
                    $option($value, $path, $optionIssues);
                    $matches += $optionIssues === [] ? 1 : 0;
                }
                if ($matches !== 1) {
                    $issues[] = "{$path}: must match exactly one of oneOf (matched {$matches})";
                }
            };
        }
        if (isset($schema->not)) {
            $not = $this->compile($schema->not, $base);
            $checks[] = static function (mixed $value, string $path, array &$issues) use ($not): void {
                $notIssues = [];
                $not($value, $path, $notIssues);
                if ($notIssues === []) {
                    $issues[] = "{$path}: must not match the 'not' schema";
                }
            };
        }
        $type = $schema->type ?? null;
        if ($type === null && count($checks) === 1) {
            return $checks[0]; // a lone `$ref` or keyword: no wrapper around it (every message runs these)
        }
        return static function (mixed $value, string $path, array &$issues) use ($type, $checks): void {
            if ($type !== null && !self::hasType($value, $type)) {
                $issues[] = "{$path}: must be " . (is_array($type) ? implode(' or ', $type) : $type);
                return;
            }
            foreach ($checks as $check) {
                $check($value, $path, $issues);
            }
        };
    }

    /** @return list<\Closure> */
    private function stringChecks(\stdClass $schema): array
    {
        $min = $schema->minLength ?? null;
        $max = $schema->maxLength ?? null;
        $pattern = isset($schema->pattern) ? '/' . str_replace('/', '\/', $schema->pattern) . '/uD' : null;
        if ($min === null && $max === null && $pattern === null) {
            return [];
        }
        return [static function (mixed $value, string $path, array &$issues) use ($min, $max, $pattern): void {
            if (!is_string($value)) {
                return;
            }
            // Characters, not bytes; counted only when the byte length cannot decide (bytes ≥ characters ≥
            // bytes / 4) and the string is not ASCII (then characters = bytes).
            $bytes = strlen($value);
            if ($min !== null && ($bytes < $min || ($bytes < 4 * $min && preg_match(self::NON_ASCII, $value) === 1 && preg_match_all('/./su', $value) < $min))) {
                $issues[] = "{$path}: shorter than {$min} characters";
            }
            if ($max !== null && $bytes > $max && preg_match_all('/./su', $value) > $max) {
                $issues[] = "{$path}: longer than {$max} characters";
            }
            if ($pattern !== null && preg_match($pattern, $value) !== 1) {
                $issues[] = "{$path}: does not match " . substr($pattern, 1, -3);
            }
        }];
    }

    /** @return list<\Closure> */
    private function numberChecks(\stdClass $schema): array
    {
        $minimum = $schema->minimum ?? null;
        $maximum = $schema->maximum ?? null;
        if ($minimum === null && $maximum === null) {
            return [];
        }
        return [static function (mixed $value, string $path, array &$issues) use ($minimum, $maximum): void {
            if (!is_int($value) && !is_float($value)) {
                return;
            }
            if ($minimum !== null && $value < $minimum) {
                $issues[] = "{$path}: less than {$minimum}";
            }
            if ($maximum !== null && $value > $maximum) {
                $issues[] = "{$path}: greater than {$maximum}";
            }
        }];
    }

    /** @return list<\Closure> */
    private function objectChecks(\stdClass $schema, string $base): array
    {
        $required = $schema->required ?? [];
        $properties = [];
        foreach (get_object_vars($schema->properties ?? new \stdClass()) as $key => $property) {
            $properties[(string) $key] = $this->compile($property, $base);
        }
        $additional = $schema->additionalProperties ?? null;
        if ($additional !== null && $additional !== false) {
            $additional = $this->compile($additional, $base);
        }
        if ($required === [] && $properties === [] && $additional === null) {
            return [];
        }
        return [static function (mixed $value, string $path, array &$issues) use ($required, $properties, $additional): void {
            if (!$value instanceof \stdClass) {
                return;
            }
            foreach ($required as $key) {
                if (!property_exists($value, $key)) {
                    $issues[] = "{$path}: missing '{$key}'";
                }
            }
            foreach (get_object_vars($value) as $key => $child) {
                $check = $properties[$key] ?? $additional;
                if ($check === null) {
                    continue;
                }
                $childPath = $path . '/' . str_replace(['~', '/'], ['~0', '~1'], (string) $key);
                if ($check === false) {
                    $issues[] = "{$childPath}: unknown key";
                } else {
                    $check($child, $childPath, $issues);
                }
            }
        }];
    }

    private static function hasType(mixed $value, string|array $type): bool
    {
        foreach ((array) $type as $one) {
            $matches = match ($one) {
                'object' => $value instanceof \stdClass,
                'array' => is_array($value),
                'string' => is_string($value),
                'integer' => is_int($value) || (is_float($value) && is_finite($value) && floor($value) === $value),
                'number' => is_int($value) || is_float($value),
                'boolean' => is_bool($value),
                'null' => $value === null,
                default => false,
            };
            if ($matches) {
                return true;
            }
        }
        return false;
    }

    private static function equal(mixed $a, mixed $b): bool
    {
        if ((is_int($a) || is_float($a)) && (is_int($b) || is_float($b))) {
            return $a == $b;
        }
        return json_encode($a) === json_encode($b);
    }

    /** The absolute URI of the document `$ref` points into, against the current document `base`. */
    private function baseOf(string $ref, string $base): string
    {
        $document = explode('#', $ref, 2)[0];
        if ($document === '') {
            return $base;
        }
        if (preg_match('~^[a-z][a-z0-9+.-]*:~i', $document) === 1) {
            return $document;
        }
        return substr($base, 0, (int) strrpos($base, '/') + 1) . $document;
    }

    private function resolve(string $ref, string $base): \stdClass|bool
    {
        $document = $this->baseOf($ref, $base);
        $schema = $this->schemas[$document] ?? throw new \InvalidArgumentException("unknown schema {$document}");
        $pointer = explode('#', $ref, 2)[1] ?? '';
        foreach ($pointer === '' ? [] : explode('/', ltrim($pointer, '/')) as $segment) {
            $segment = str_replace(['~1', '~0'], ['/', '~'], rawurldecode($segment));
            $schema = $schema->{$segment} ?? throw new \InvalidArgumentException("unresolvable \$ref {$ref}");
        }
        return $schema;
    }
}

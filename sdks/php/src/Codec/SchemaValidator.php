<?php

declare(strict_types=1);

namespace Thrun\Codec;

/**
 * Validates values against the repository's JSON Schemas (`schemas/*.schema.json`), read as they are,
 * so PHP enforces exactly what the TypeScript and Go runtimes do. It implements the keywords those
 * schemas use (type, required, properties, additionalProperties, enum, const, pattern, minLength,
 * maxLength, minimum, maximum, items, oneOf, not, $ref); `format` is an annotation there, as here.
 * Values are as `JsonParser` returns them: objects are `stdClass`, arrays are lists.
 */
final class SchemaValidator
{
    /** @var array<string, \stdClass> schema `$id` → schema */
    private array $schemas = [];

    public function __construct(string $schemasDirectory)
    {
        foreach (glob(rtrim($schemasDirectory, '/') . '/*.schema.json') ?: [] as $file) {
            $schema = json_decode((string) file_get_contents($file), false, 512, JSON_THROW_ON_ERROR);
            $this->schemas[$schema->{'$id'}] = $schema;
        }
    }

    private static ?self $shared = null;

    /** The validator of the schemas beside the package (the repository's `schemas/`), loaded once. */
    public static function shared(): self
    {
        return self::$shared ??= new self(Paths::schemas());
    }

    /**
     * @return list<string> the problems found, each `<JSON Pointer>: <what>`; empty when valid
     */
    public function validate(mixed $value, string $schemaId): array
    {
        $issues = [];
        $this->check($value, $this->resolve($schemaId, $schemaId), $schemaId, '', $issues);
        return $issues;
    }

    /** @param list<string> $issues */
    private function check(mixed $value, \stdClass|bool $schema, string $base, string $path, array &$issues): void
    {
        if ($schema === true) {
            return;
        }
        if ($schema === false) {
            $issues[] = "{$path}: not allowed";
            return;
        }
        if (isset($schema->{'$ref'})) {
            $ref = $schema->{'$ref'};
            $this->check($value, $this->resolve($ref, $base), $this->baseOf($ref, $base), $path, $issues);
        }
        if (isset($schema->type) && !self::hasType($value, $schema->type)) {
            $issues[] = "{$path}: must be " . (is_array($schema->type) ? implode(' or ', $schema->type) : $schema->type);
            return;
        }
        if (property_exists($schema, 'const') && !self::equal($value, $schema->const)) {
            $issues[] = "{$path}: must be " . json_encode($schema->const);
        }
        if (isset($schema->enum) && !array_filter($schema->enum, fn ($option) => self::equal($value, $option))) {
            $issues[] = "{$path}: must be one of " . json_encode($schema->enum);
        }
        if (is_string($value)) {
            $length = preg_match_all('/./su', $value);
            if (isset($schema->minLength) && $length < $schema->minLength) {
                $issues[] = "{$path}: shorter than {$schema->minLength} characters";
            }
            if (isset($schema->maxLength) && $length > $schema->maxLength) {
                $issues[] = "{$path}: longer than {$schema->maxLength} characters";
            }
            if (isset($schema->pattern) && preg_match('/' . str_replace('/', '\/', $schema->pattern) . '/uD', $value) !== 1) {
                $issues[] = "{$path}: does not match {$schema->pattern}";
            }
        }
        if (is_int($value) || is_float($value)) {
            if (isset($schema->minimum) && $value < $schema->minimum) {
                $issues[] = "{$path}: less than {$schema->minimum}";
            }
            if (isset($schema->maximum) && $value > $schema->maximum) {
                $issues[] = "{$path}: greater than {$schema->maximum}";
            }
        }
        if ($value instanceof \stdClass) {
            foreach ($schema->required ?? [] as $key) {
                if (!property_exists($value, $key)) {
                    $issues[] = "{$path}: missing '{$key}'";
                }
            }
            $properties = $schema->properties ?? new \stdClass();
            foreach (get_object_vars($value) as $key => $child) {
                $key = (string) $key;
                $childPath = $path . '/' . str_replace(['~', '/'], ['~0', '~1'], $key);
                if (property_exists($properties, $key)) {
                    $this->check($child, $properties->{$key}, $base, $childPath, $issues);
                } elseif (isset($schema->additionalProperties)) {
                    if ($schema->additionalProperties === false) {
                        $issues[] = "{$childPath}: unknown key";
                    } else {
                        $this->check($child, $schema->additionalProperties, $base, $childPath, $issues);
                    }
                }
            }
        }
        if (is_array($value) && isset($schema->items)) {
            foreach ($value as $index => $item) {
                $this->check($item, $schema->items, $base, "{$path}/{$index}", $issues);
            }
        }
        if (isset($schema->oneOf)) {
            $matches = 0;
            foreach ($schema->oneOf as $option) {
                $optionIssues = [];
                $this->check($value, $option, $base, $path, $optionIssues);
                $matches += $optionIssues === [] ? 1 : 0;
            }
            if ($matches !== 1) {
                $issues[] = "{$path}: must match exactly one of oneOf (matched {$matches})";
            }
        }
        if (isset($schema->not)) {
            $notIssues = [];
            $this->check($value, $schema->not, $base, $path, $notIssues);
            if ($notIssues === []) {
                $issues[] = "{$path}: must not match the 'not' schema";
            }
        }
    }

    private static function hasType(mixed $value, string|array $type): bool
    {
        foreach ((array) $type as $one) {
            $matches = match ($one) {
                'object' => $value instanceof \stdClass,
                'array' => is_array($value),
                'string' => is_string($value),
                'integer' => is_int($value) || (is_float($value) && floor($value) === $value && is_finite($value)),
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

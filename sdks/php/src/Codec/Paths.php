<?php

declare(strict_types=1);

namespace Thrun\Codec;

/**
 * Where the language-neutral files live: the repository's `schemas/` and `protocol/`, which the PHP
 * package reads unchanged as every runtime does. THRUN_SCHEMAS_DIR and THRUN_PROTOCOL_DIR point
 * elsewhere (an installed package ships copies next to it).
 */
final class Paths
{
    public static function schemas(): string
    {
        return self::locate('THRUN_SCHEMAS_DIR', 'schemas');
    }

    public static function protocol(): string
    {
        return self::locate('THRUN_PROTOCOL_DIR', 'protocol');
    }

    private static function locate(string $variable, string $folder): string
    {
        $configured = getenv($variable);
        if (is_string($configured) && $configured !== '') {
            return $configured;
        }
        foreach ([dirname(__DIR__, 2) . "/{$folder}", dirname(__DIR__, 4) . "/{$folder}"] as $candidate) {
            if (is_dir($candidate)) {
                return $candidate;
            }
        }
        throw new \RuntimeException("[thrun] cannot find the '{$folder}' folder: set {$variable}");
    }
}

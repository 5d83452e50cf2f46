<?php

declare(strict_types=1);

namespace Thrun\Transport;

use Thrun\Codec\Paths;

/**
 * The Redis scripts of the wire protocol, read from `protocol/redis/*.lua` by the rules of
 * `protocol/README.md` (header dropped, includes resolved, final newline removed), so their text and
 * SHA-1 are the TypeScript packages' own. Run with EVALSHA, falling back to EVAL on NOSCRIPT.
 */
final class LuaScripts
{
    /** @var array<string, array{source: string, sha: string, keys: int}> */
    private array $scripts = [];

    private static ?self $shared = null;

    public function __construct(string $directory)
    {
        foreach (glob(rtrim($directory, '/') . '/*.lua') ?: [] as $file) {
            if (preg_match('/^([a-z]+(?:-[a-z]+)*)-(\d+)\.lua$/', basename($file), $match) !== 1) {
                throw new \RuntimeException("[thrun:redis] {$file} must be named <name>-<number of keys>.lua");
            }
            $source = substr(self::resolve($file, $directory, []), 0, -1);
            $this->scripts[$match[1]] = ['source' => $source, 'sha' => sha1($source), 'keys' => (int) $match[2]];
        }
    }

    public static function shared(): self
    {
        return self::$shared ??= new self(Paths::protocol() . '/redis');
    }

    public function sha(string $name): string
    {
        return $this->script($name)['sha'];
    }

    public function source(string $name): string
    {
        return $this->script($name)['source'];
    }

    /**
     * Runs a script: `keys` must have as many entries as its file name says.
     *
     * @param list<string> $keys
     * @param list<string|int> $args
     */
    public function run(\Redis $redis, string $name, array $keys, array $args): mixed
    {
        $script = $this->script($name);
        if (count($keys) !== $script['keys']) {
            throw new \LogicException("[thrun:redis] {$name} takes {$script['keys']} keys, got " . count($keys));
        }
        $arguments = array_merge($keys, array_map('strval', $args));
        $result = $redis->evalSha($script['sha'], $arguments, $script['keys']);
        $error = $redis->getLastError();
        if ($result === false && $error !== null && str_starts_with($error, 'NOSCRIPT')) {
            $redis->clearLastError();
            $result = $redis->eval($script['source'], $arguments, $script['keys']);
            $error = $redis->getLastError();
        }
        if ($result === false && $error !== null) {
            $redis->clearLastError();
            throw new RedisScriptError("[thrun:redis] {$name}: {$error}");
        }
        return $result;
    }

    /**
     * Holds messages back in a queue's delayed set (`schedule`, both Redis modes): each member is a
     * 16-character random id, a colon and the body, so equal bodies stay apart.
     *
     * @param list<string> $messages
     */
    public function schedule(\Redis $redis, string $queueKey, int $delayMs, array $messages): void
    {
        $members = array_map(static fn (string $body) => bin2hex(random_bytes(8)) . ':' . $body, $messages);
        $this->run($redis, 'schedule', ["{{$queueKey}}:delayed"], [$delayMs, ...$members]);
    }

    /** @return array{source: string, sha: string, keys: int} */
    private function script(string $name): array
    {
        return $this->scripts[$name] ?? throw new \LogicException("[thrun:redis] no script {$name} in protocol/redis");
    }

    /** @param list<string> $stack */
    private static function resolve(string $file, string $directory, array $stack): string
    {
        $text = (string) file_get_contents($file);
        if (!str_starts_with($text, "--[[\n") || ($close = strpos($text, "\n]]\n")) === false) {
            throw new \RuntimeException("[thrun:redis] {$file} must start with a --[[ … ]] header");
        }
        $body = substr($text, $close + 4);
        return (string) preg_replace_callback('/^--- @include ([a-z0-9-]+)$\n?/m', function (array $match) use ($directory, $stack, $file): string {
            $name = $match[1];
            if (in_array($name, $stack, true)) {
                throw new \RuntimeException("[thrun:redis] {$file}: include cycle " . implode(' → ', [...$stack, $name]));
            }
            return self::resolve("{$directory}/includes/{$name}.lua", $directory, [...$stack, $name]);
        }, $body);
    }
}

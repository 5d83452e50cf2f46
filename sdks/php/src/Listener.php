<?php

declare(strict_types=1);

namespace Thrun;

/**
 * One subscription: a pattern and what handles it. A class name is instantiated on first use (through
 * the bus's factory, so a container can build it), then kept. The handler gets the payload array and,
 * when it declares a second parameter, the `HandlerContext`.
 */
final class Listener
{
    private ?\Closure $resolved = null;
    private bool $wantsContext = false;

    /**
     * @param string|array{0: class-string, 1: string}|callable $handler a class name (invokable), a
     *        [class name, method] pair, or any callable
     * @param \Closure(class-string): object $factory
     */
    public function __construct(
        public readonly string $pattern,
        private readonly mixed $handler,
        private readonly \Closure $factory,
    ) {
    }

    public function matches(string $name): bool
    {
        return EventName::matches($this->pattern, $name);
    }

    /** Whether the handler declares the `HandlerContext` parameter (resolving it on first use). */
    public function wantsContext(): bool
    {
        $this->resolved ??= $this->resolve();
        return $this->wantsContext;
    }

    /** `context` may be left out when the handler does not take it (`wantsContext()`). */
    public function invoke(array $payload, ?HandlerContext $context = null): void
    {
        $handler = $this->resolved ??= $this->resolve();
        $this->wantsContext ? $handler($payload, $context) : $handler($payload);
    }

    /** What the listener calls, for the discovery map and error messages. */
    public function describe(): string
    {
        return match (true) {
            is_string($this->handler) => $this->handler,
            is_array($this->handler) => (is_object($this->handler[0]) ? $this->handler[0]::class : $this->handler[0]) . '::' . $this->handler[1],
            default => 'a callable',
        };
    }

    private function resolve(): \Closure
    {
        $handler = $this->handler;
        if (is_string($handler) && class_exists($handler)) {
            $handler = ($this->factory)($handler);
        } elseif (is_array($handler) && is_string($handler[0]) && class_exists($handler[0])) {
            $handler = [($this->factory)($handler[0]), $handler[1]];
        }
        if (!is_callable($handler)) {
            throw new \InvalidArgumentException("[thrun] the listener {$this->describe()} for '{$this->pattern}' is not callable");
        }
        $closure = \Closure::fromCallable($handler);
        $this->wantsContext = (new \ReflectionFunction($closure))->getNumberOfParameters() >= 2;
        return $closure;
    }
}

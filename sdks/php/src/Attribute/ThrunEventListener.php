<?php

declare(strict_types=1);

namespace Thrun\Attribute;

/**
 * Marks a listener: an invokable class (`__invoke`) or a public method. `event` is an event name, a
 * pattern with `*` (one segment) or `#` (any number of segments), or an event class carrying
 * `#[ThrunEvent]`, which resolves to its contract name.
 */
#[\Attribute(\Attribute::TARGET_CLASS | \Attribute::TARGET_METHOD | \Attribute::IS_REPEATABLE)]
final class ThrunEventListener
{
    public function __construct(public readonly string $event)
    {
    }
}

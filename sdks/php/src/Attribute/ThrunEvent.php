<?php

declare(strict_types=1);

namespace Thrun\Attribute;

/**
 * Declares the contract name of an event class: `#[ThrunEvent('user_created')] final class UserCreated`.
 * The wire carries this name, never the PHP class name, so other runtimes can listen to it.
 */
#[\Attribute(\Attribute::TARGET_CLASS)]
final class ThrunEvent
{
    public function __construct(public readonly string $name)
    {
    }
}

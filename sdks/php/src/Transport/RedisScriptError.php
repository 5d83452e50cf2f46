<?php

declare(strict_types=1);

namespace Thrun\Transport;

/** A Redis script's error reply (WRONGTYPE, a refused write): the message stays where it was. */
final class RedisScriptError extends \RuntimeException
{
}

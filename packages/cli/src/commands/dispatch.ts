import { assertEventName, ValidationError } from '@thrun/contract';
import type { Command } from 'commander';
import { jsonLine } from '../output.js';
import { type GlobalOptions, Session } from '../session.js';

/** Parses the payload argument: a JSON object, as every envelope's payload is. */
export function parsePayload(text: string): Record<string, unknown> {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (cause) {
    throw new ValidationError(
      'invalid_payload',
      `[thrun:cli] the payload is not valid JSON: ${(cause as Error).message}`,
    );
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new ValidationError('invalid_payload', '[thrun:cli] the payload must be a JSON object');
  }
  return payload as Record<string, unknown>;
}

export function registerDispatch(program: Command): void {
  program
    .command('dispatch')
    .description('dispatch an event; resolves once the broker accepted it')
    .argument('<event>', 'the event name, e.g. order_created')
    .argument('[payload]', 'the payload, a JSON object', '{}')
    .action(async (event: string, payloadText: string, _options: unknown, command: Command) => {
      assertEventName(event);
      const payload = parsePayload(payloadText);
      const session = new Session(command.optsWithGlobals<GlobalOptions>());
      try {
        const eventId = await session.bus().event(event, payload, { queue: session.settings.queue });
        if (session.json)
          process.stdout.write(`${jsonLine({ event, queue: session.settings.queue, eventId })}\n`);
        else process.stdout.write(`dispatched ${event} to ${session.settings.queue} (${eventId})\n`);
      } finally {
        await session.close();
      }
    });
}

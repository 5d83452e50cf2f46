import { type Envelope, ValidationError } from '@thrun/contract';
import type { BulkItem } from '../context.js';
import { readBulkItem, readDispatchArgs } from './dispatch-args.js';
import { type EnvelopeSettings, prepareEvent } from './envelope.js';
import { type SendSettings, sendEvents } from './send.js';

/** Dispatch through the transport: `thrun.event`/`events`, and `ctx.event`/`events` with a parent. */
export interface Dispatcher {
  /** Resolves with the new `meta.event_id` once the transport accepted the message. */
  dispatch(args: readonly unknown[], parent?: Envelope): Promise<string>;
  /** Prepares every item before sending any, then one publish per queue; resolves with their ids. */
  dispatchMany(items: readonly BulkItem[], parent?: Envelope): Promise<string[]>;
}

export function createDispatcher(settings: EnvelopeSettings & SendSettings): Dispatcher {
  return {
    async dispatch(args, parent) {
      const request = readDispatchArgs(args);
      const prepared = prepareEvent(settings, request, parent);
      await sendEvents(settings, [prepared], request.options.signal);
      return prepared.envelope.meta!.event_id;
    },
    async dispatchMany(items, parent) {
      if (!Array.isArray(items)) {
        throw new ValidationError('invalid_payload', '[thrun:core] events() takes an array of jobs');
      }
      const prepared = items.map((item) => prepareEvent(settings, readBulkItem(item), parent));
      if (prepared.length > 0) await sendEvents(settings, prepared, undefined);
      return prepared.map((event) => event.envelope.meta!.event_id);
    },
  };
}

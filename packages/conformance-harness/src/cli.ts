#!/usr/bin/env node
/**
 * thrun-conformance --transport <redis|redis-streams|rabbitmq|kafka> --worker "<command>"
 *   [--url <broker>] [--scenario <name>]… [--unsupported <scenario>=<reason>]… [--wait-ms <ms>]
 *   [--json <file>] [--list]
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { runConformance, SCENARIO_NAMES } from './run.js';
import { isTransportName, TRANSPORT_NAMES } from './worker-env.js';

const USAGE = `usage: thrun-conformance --transport <${TRANSPORT_NAMES.join('|')}> --worker "<command>"
  [--url <broker url>] [--scenario <name>]... [--unsupported <scenario>=<reason>]...
  [--wait-ms <ms, 20000 by default>] [--json <file>] [--list]`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      transport: { type: 'string' },
      worker: { type: 'string' },
      url: { type: 'string' },
      scenario: { type: 'string', multiple: true },
      unsupported: { type: 'string', multiple: true },
      'wait-ms': { type: 'string' },
      json: { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    console.log(SCENARIO_NAMES.join('\n'));
    return 0;
  }
  const { transport, worker } = values;
  if (transport === undefined || !isTransportName(transport) || worker === undefined) {
    console.error(USAGE);
    return 2;
  }
  const waitMs = values['wait-ms'] === undefined ? undefined : Number(values['wait-ms']);
  if (waitMs !== undefined && !(Number.isSafeInteger(waitMs) && waitMs > 0)) {
    console.error('--wait-ms must be a positive integer');
    return 2;
  }
  const unsupported = new Map<string, string>();
  for (const declaration of values.unsupported ?? []) {
    const [name = '', ...reason] = declaration.split('=');
    if (!SCENARIO_NAMES.includes(name)) {
      console.error(`--unsupported names no scenario: ${JSON.stringify(name)}`);
      return 2;
    }
    unsupported.set(name, reason.join('=') || 'declared unsupported');
  }
  const report = await runConformance({
    transport,
    worker,
    ...(values.url === undefined ? {} : { url: values.url }),
    ...(waitMs === undefined ? {} : { waitMs }),
    scenarios: values.scenario ?? [],
    unsupported,
    report: (line) => console.log(line),
  });
  console.log(report.summary);
  if (values.json !== undefined) {
    await writeFile(values.json, `${JSON.stringify({ transport, worker, ...report }, null, 2)}\n`);
  }
  return report.failed > 0 ? 1 : 0;
}

// Interrupted: exit, so that the workers still running are killed on the way out.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);

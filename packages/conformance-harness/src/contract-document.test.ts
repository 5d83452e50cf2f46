import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCENARIO_NAMES } from './run.js';
import { settings } from './test-support/settings.js';
import { READY_LINE, workerEnvironment } from './worker-env.js';

/** protocol/conformance.md is what other runtimes build from: it must say what the harness does. */
const document = readFileSync(new URL('../../../protocol/conformance.md', import.meta.url), 'utf8');

/** The first cell of every table row in the document's section `heading`. */
function firstCells(heading: string): string[] {
  const section = document.split(/^## /m).find((part) => part.startsWith(heading)) ?? '';
  return [...section.matchAll(/^\| `([^`]+)`/gm)].map((match) => match[1]!);
}

describe('protocol/conformance.md', () => {
  it('lists every environment variable the harness sets, and no other', () => {
    expect(firstCells('1. Starting the worker')).toEqual(Object.keys(workerEnvironment(settings)));
  });

  it('lists every scenario, in the order they are reported', () => {
    expect(firstCells('4. Scenarios')).toEqual(SCENARIO_NAMES);
  });

  it('names the ready line', () => {
    expect(document).toContain(`\`${READY_LINE}\``);
  });
});

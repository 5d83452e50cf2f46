import { printSuite, type SuiteResult, writeResults } from './report.js';
import { namedOnly, suites } from './suites/index.js';

const requested = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const names = requested.length > 0 ? requested : Object.keys(suites);
const results: SuiteResult[] = [];
for (const name of names) {
  const run = suites[name] ?? namedOnly[name];
  if (!run)
    throw new Error(
      `unknown suite ${name}; known: ${[...Object.keys(suites), ...Object.keys(namedOnly)].join(', ')}`,
    );
  const result = await run();
  printSuite(result);
  results.push(result);
}
const written = writeResults(results, new URL('../results/', import.meta.url));
console.log(`\nresults written to ${written.join('\n  ')}`);
// A case that failed (and was reported as such) may have left a connection open: do not wait for it.
process.exit(0);

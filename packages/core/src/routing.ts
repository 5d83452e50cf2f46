import { assertEventPattern, assertQueueName, compileEventPattern, isWildcardPattern } from '@thrun/contract';

/**
 * Decides which queue an event goes to, and which queues a listener needs consumed.
 *
 * Routes are event patterns mapped to queues (`{ 'billing.*': 'billing' }`), tried in the order
 * given; the first match wins and an unmatched event goes to the default queue. A listener's
 * pattern may reach several queues (`#` reaches all of them), and the worker consumes each.
 */
export class Router {
  private readonly routes: {
    pattern: string;
    segments: string[];
    matches: (name: string) => boolean;
    queue: string;
  }[];
  private readonly cache = new Map<string, string>();

  constructor(
    readonly defaultQueue: string,
    routes: Readonly<Record<string, string>> = {},
  ) {
    assertQueueName(defaultQueue);
    this.routes = Object.entries(routes).map(([pattern, queue]) => {
      assertEventPattern(pattern);
      assertQueueName(queue);
      return { pattern, segments: pattern.split('.'), matches: compileEventPattern(pattern), queue };
    });
  }

  /** The queue an event named `name` is dispatched to. */
  queueFor(name: string): string {
    let queue = this.cache.get(name);
    if (queue === undefined) {
      queue = this.defaultQueue;
      for (const route of this.routes) {
        if (route.matches(name)) {
          queue = route.queue;
          break;
        }
      }
      if (this.cache.size >= 10_000) this.cache.clear(); // bounded: names may come from outside
      this.cache.set(name, queue);
    }
    return queue;
  }

  /**
   * Every queue where an event matching `pattern` may be dispatched. Over-approximates rather than
   * misses: a route is included when some name matches both, the default queue unless a single earlier
   * route claims every name the pattern matches.
   */
  queuesFor(pattern: string): string[] {
    if (!isWildcardPattern(pattern)) return [this.queueFor(pattern)];
    const segments = pattern.split('.');
    const queues = new Set<string>();
    for (const route of this.routes) {
      if (!patternsOverlap(route.segments, segments)) continue;
      queues.add(route.queue);
      if (patternCovers(route.segments, segments)) return [...queues];
    }
    queues.add(this.defaultQueue);
    return [...queues];
  }
}

/** Whether some event name matches both patterns (given as segments). */
export function patternsOverlap(a: readonly string[], b: readonly string[]): boolean {
  const seen = new Set<number>(); // memo of failed (i, j) pairs: keeps `#.#.#…` linear-ish
  const width = b.length + 1;
  const walk = (i: number, j: number): boolean => {
    if (i === a.length && j === b.length) return true;
    const key = i * width + j;
    if (seen.has(key)) return false;
    let result: boolean;
    if (i < a.length && a[i] === '#') result = walk(i + 1, j) || (j < b.length && walk(i, j + 1));
    else if (j < b.length && b[j] === '#') result = walk(i, j + 1) || (i < a.length && walk(i + 1, j));
    else if (i === a.length || j === b.length) result = false;
    else result = (a[i] === '*' || b[j] === '*' || a[i] === b[j]) && walk(i + 1, j + 1);
    if (!result) seen.add(key);
    return result;
  };
  return walk(0, 0);
}

/** Whether every event name matching `inner` also matches `outer`. */
export function patternCovers(outer: readonly string[], inner: readonly string[]): boolean {
  const seen = new Set<number>();
  const width = inner.length + 1;
  const walk = (i: number, j: number): boolean => {
    if (i === outer.length && j === inner.length) return true;
    const key = i * width + j;
    if (seen.has(key)) return false;
    let result: boolean;
    if (i < outer.length && outer[i] === '#') result = walk(i + 1, j) || (j < inner.length && walk(i, j + 1));
    else if (i === outer.length || j === inner.length) result = false;
    else if (inner[j] === '#')
      result = false; // only a `#` can stand for any number of segments
    else if (inner[j] === '*') result = outer[i] === '*' && walk(i + 1, j + 1);
    else result = (outer[i] === '*' || outer[i] === inner[j]) && walk(i + 1, j + 1);
    if (!result) seen.add(key);
    return result;
  };
  return walk(0, 0);
}

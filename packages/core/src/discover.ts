import { readdir } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigurationError } from '@thrun/contract';
import type { EventTarget } from './event-class.js';
import { type Handler, isDefinedListener, type ListenerOptions, listenerDefinitionsOf } from './listeners.js';

export interface DiscoverOptions {
  /** File extensions imported. Default: `.js`, `.mjs`, `.ts`, `.mts` (declaration files excluded). */
  extensions?: readonly string[];
}

/** What `discover` found. */
export interface DiscoveryReport {
  /** The directory searched, as a path. */
  directory: string;
  /** Every module imported, by file name, in import order. */
  modules: string[];
  /** Every listener registered. */
  listeners: {
    module: string;
    export: string;
    name: string;
    pattern: string;
    /** `decorated`: an `@ThrunEventListener` class; `defined`: a `defineListener(...)` value. */
    kind: 'decorated' | 'defined';
  }[];
}

interface Registrar {
  register(...classes: Function[]): { pattern: string }[];
  subscribe(target: EventTarget, handler: Handler, options?: ListenerOptions): { pattern: string };
}

const DEFAULT_EXTENSIONS = ['.js', '.mjs', '.ts', '.mts'];

/**
 * Imports the modules directly inside a directory (not its subdirectories; test and declaration files
 * skipped), in name order, by their file URL: no name is ever taken from a message. Registers every
 * exported `@ThrunEventListener` class and every `defineListener(...)` value.
 */
export async function discoverListeners(
  dirUrl: URL | string,
  registrar: Registrar,
  options: DiscoverOptions = {},
): Promise<DiscoveryReport> {
  const url = typeof dirUrl === 'string' ? new URL(dirUrl) : dirUrl;
  if (url.protocol !== 'file:') {
    throw new ConfigurationError(
      'invalid_option',
      `[thrun:core] discover() takes a file: URL, got ${url.protocol}`,
    );
  }
  const directory = fileURLToPath(url);
  const extensions = options.extensions ?? DEFAULT_EXTENSIONS;
  const entries = await readdir(directory, { withFileTypes: true });
  const files = entries
    .filter((entry) => entry.isFile() && extensions.includes(extname(entry.name)))
    .map((entry) => entry.name)
    .filter((name) => !/\.d\.[cm]?ts$/.test(name) && !/\.(test|spec)\.[cm]?[jt]s$/.test(name))
    .sort();

  const report: DiscoveryReport = { directory, modules: [], listeners: [] };
  const seen = new Set<unknown>();
  for (const file of files) {
    const href = pathToFileURL(`${directory.replace(/\/$/, '')}/${file}`).href;
    let module: Record<string, unknown>;
    try {
      module = (await import(href)) as Record<string, unknown>;
    } catch (cause) {
      throw new ConfigurationError('invalid_option', `[thrun:core] discover() could not import ${file}`, {
        cause,
      });
    }
    report.modules.push(file);
    for (const [exportName, value] of Object.entries(module)) {
      if (seen.has(value)) continue;
      if (listenerDefinitionsOf(value).length > 0) {
        seen.add(value);
        for (const subscription of registrar.register(value as Function)) {
          report.listeners.push({
            module: file,
            export: exportName,
            name: (value as Function).name,
            pattern: subscription.pattern,
            kind: 'decorated',
          });
        }
      } else if (isDefinedListener(value)) {
        seen.add(value);
        const subscription = registrar.subscribe(value.target, value.handler as Handler, value.options);
        const handlerName = typeof value.handler === 'function' ? value.handler.name : '';
        report.listeners.push({
          module: file,
          export: exportName,
          name: handlerName || exportName,
          pattern: subscription.pattern,
          kind: 'defined',
        });
      }
    }
  }
  return report;
}

/**
 * Every state transition of a message is one Lua script, so it is atomic and costs one round trip. The
 * scripts are the files of `protocol/redis/` (each header says what it reads, writes and returns),
 * resolved at build time into `generated/scripts.ts`; this module only names them.
 */
import { createHash } from 'node:crypto';
import { luaScripts } from './generated/scripts.js';

export interface Script {
  readonly name: string;
  readonly numberOfKeys: number;
  readonly source: string;
  readonly sha: string;
}

export type ScriptName = keyof typeof luaScripts;

export function loadScript(name: ScriptName): Script {
  const { numberOfKeys, source } = luaScripts[name];
  return { name, numberOfKeys, source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Delayed members are `<16-character id>:<body>`: the id keeps equal bodies apart in the sorted set. The
 * scripts read the body from character 18 (`scripts.test.ts` holds them to this length).
 */
export const DELAYED_ID_LENGTH = 16;

export const scheduleScript = loadScript('schedule');
export const listFetchScript = loadScript('list-fetch');
export const listAckScript = loadScript('list-ack');
export const listRetryScript = loadScript('list-retry');
export const listDeadLetterScript = loadScript('list-dead-letter');
export const listReapScript = loadScript('list-reap');
export const listReleaseScript = loadScript('list-release');
export const listPurgeScript = loadScript('list-purge');
export const streamClaimScript = loadScript('stream-claim');
export const streamRetryScript = loadScript('stream-retry');
export const streamDeadLetterScript = loadScript('stream-dead-letter');
export const streamTrimScript = loadScript('stream-trim');
export const streamReclaimScript = loadScript('stream-reclaim');

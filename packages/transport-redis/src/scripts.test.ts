import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readScripts, renderModule } from '../scripts/lua.mjs';
import { luaScripts } from './generated/scripts.js';
import { DELAYED_ID_LENGTH, listFetchScript, streamClaimScript } from './scripts.js';

const files = readScripts();

/** The key indexes a text names: `KEYS[3]` and the ranges `KEYS[1..6]`. */
function keyIndexes(text: string): number[] {
  const found = new Set<number>();
  for (const [, from, to] of text.matchAll(/KEYS\[(\d+)(?:\.\.(\d+))?\]/g)) {
    for (let i = Number(from); i <= Number(to ?? from); i++) found.add(i);
  }
  return [...found].sort((a, b) => a - b);
}

const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('the Redis scripts of protocol/redis', () => {
  it('are exactly what the generated module holds (run the build after changing a .lua file)', () => {
    const generated = readFileSync(new URL('./generated/scripts.ts', import.meta.url), 'utf8');
    expect(generated).toBe(renderModule(files));
    expect(Object.keys(luaScripts).sort()).toEqual(files.map((file) => file.name));
  });

  it.each(files.map((file) => [file.file, file] as const))(
    '%s: the key count in its name is the keys its header documents and its script uses',
    (_, file) => {
      expect(keyIndexes(file.header)).toEqual(oneTo(file.numberOfKeys));
      expect(keyIndexes(file.source)).toEqual(oneTo(file.numberOfKeys));
    },
  );

  it('read a delayed member’s body after the id the client writes', () => {
    for (const script of [listFetchScript, streamClaimScript]) {
      expect(script.source).toContain(`string.sub(due[i], ${DELAYED_ID_LENGTH + 2})`);
    }
  });
});

describe('the include resolver', () => {
  function protocolDir(entries: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'thrun-protocol-'));
    mkdirSync(join(dir, 'includes'));
    for (const [path, text] of Object.entries(entries)) writeFileSync(join(dir, path), text);
    return dir;
  }

  it('replaces an include line by the included script, nested, and drops headers and the last newline', () => {
    const dir = protocolDir({
      'get-1.lua': '--[[\nKEYS[1] a key\n]]\n--- @include outer\nreturn KEYS[1]\n',
      'includes/outer.lua': '--[[\nouter\n]]\n--- @include inner\nlocal b = 2\n',
      'includes/inner.lua': '--[[\ninner\n]]\nlocal a = 1\n',
    });
    expect(readScripts(dir)).toEqual([
      {
        file: 'get-1.lua',
        name: 'get',
        numberOfKeys: 1,
        header: 'KEYS[1] a key',
        source: 'local a = 1\nlocal b = 2\nreturn KEYS[1]',
      },
    ]);
  });

  it('refuses an include cycle, an unknown include, a malformed include line and a missing header', () => {
    const body = (line: string) => `--[[\nh\n]]\n${line}\nreturn 1\n`;
    expect(() =>
      readScripts(
        protocolDir({ 'a-0.lua': body('--- @include x'), 'includes/x.lua': body('--- @include x') }),
      ),
    ).toThrow(/include cycle x → x/);
    expect(() => readScripts(protocolDir({ 'a-0.lua': body('--- @include nope') }))).toThrow(
      /unknown include "nope"/,
    );
    expect(() => readScripts(protocolDir({ 'a-0.lua': body('-- @include x') }))).toThrow(
      /malformed include line/,
    );
    expect(() => readScripts(protocolDir({ 'a-0.lua': 'return 1\n' }))).toThrow(
      /must start with a --\[\[ header/,
    );
    expect(() => readScripts(protocolDir({ 'a.lua': body('') }))).toThrow(/<number of keys>\.lua/);
  });
});

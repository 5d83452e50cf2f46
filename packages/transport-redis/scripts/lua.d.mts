export interface LuaScriptFile {
  readonly file: string;
  readonly name: string;
  readonly numberOfKeys: number;
  readonly header: string;
  readonly source: string;
}
export const protocolRedisDir: string;
export function splitHeader(text: string, file: string): { header: string; body: string };
export function readScripts(dir?: string): LuaScriptFile[];
export function renderModule(scripts: readonly LuaScriptFile[]): string;

export const protocolHeadersFile: string;
export function readProtocolHeaders(file?: string): unknown;
export function renderProtocolHeadersModule(protocol: unknown): string;

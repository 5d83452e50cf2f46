/**
 * `rediss://`: a private Redis with TLS only, on a free port, with a throwaway CA made by openssl.
 * This test starts that server itself (not through scripts/brokers) and stops it by its pid.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Transport, TransportError } from '@thrun/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisTransport } from './index.js';
import { bytes, text, waitFor } from './test-support/redis.js';

let dir: string;
let server: ChildProcess | undefined;
let port: number;
let ca: Buffer;
const transports: Transport[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'thrun-tls-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=thrun-test-ca',
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '1',
    '-extfile',
    'ext.cnf',
  );
  ca = readFileSync(join(dir, 'ca.crt'));
  port = await freePort();
  server = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      'server.crt',
      '--tls-key-file',
      'server.key',
      '--tls-ca-cert-file',
      'ca.crt',
      '--tls-auth-clients',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  const probe = redisTransport({ url: `rediss://127.0.0.1:${port}`, redisOptions: { tls: { ca } } });
  await waitFor(async () => {
    try {
      await probe.publish('ready', [{ body: bytes('x') }]);
      return true;
    } catch {
      return false;
    }
  }, 20_000);
  await probe.close();
}, 60_000);

afterAll(async () => {
  await Promise.all(transports.map((t) => t.close({ drainTimeoutMs: 500 })));
  if (server?.pid && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS', () => {
  it('publishes and consumes over rediss:// with the server verified against its CA', async () => {
    const transport = redisTransport({ url: `rediss://127.0.0.1:${port}`, redisOptions: { tls: { ca } } });
    transports.push(transport);
    const seen: string[] = [];
    await transport.consume('secure', async (delivery) => {
      seen.push(text(delivery.body));
      await delivery.ack();
    });
    await transport.publish('secure', [{ body: bytes('over tls') }]);
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual(['over tls']);
  });

  it('refuses a server it cannot verify, with connection_failed', async () => {
    const transport = redisTransport({ url: `rediss://127.0.0.1:${port}`, connectTimeoutMs: 3_000 });
    transports.push(transport);
    const error = await transport.publish('secure', [{ body: bytes('x') }]).catch((e) => e);
    expect(TransportError.isInstance(error) && error.code).toBe('connection_failed');
  });

  it('does not talk plain redis:// to a TLS port', async () => {
    const transport = redisTransport({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 2_000 });
    transports.push(transport);
    const error = await transport.publish('secure', [{ body: bytes('x') }]).catch((e) => e);
    expect(TransportError.isInstance(error) && error.code).toBe('connection_failed');
  });
});

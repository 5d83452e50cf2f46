import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** How the dashboard authenticates. Without one, it answers loopback clients only. */
export type DashboardAuth = { token: string } | { basic: { username: string; password: string } };

/**
 * The Content-Security-Policy of every response: scripts and styles only from the dashboard itself,
 * no inline script, no frames, no plugins, requests only back to the same origin.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Not no-referrer: under it Chromium sends `Origin: null` on form posts, which the login checks.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** The header every mutating request must carry. A cross-site form or image cannot set it, and a
 * cross-origin script can only with a CORS preflight, which the dashboard never approves. */
export const CSRF_HEADER = 'x-thrun-csrf';

/** Compares secrets in constant time (over digests, so lengths do not leak either). */
export function secretEquals(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/**
 * Whether a mutating request comes from the dashboard's own page: the custom header is there, and the
 * browser's `Origin` and `Sec-Fetch-Site` (when it sent them) say same origin.
 */
export function isSameOriginRequest(headers: Headers, requireCustomHeader: boolean): boolean {
  if (requireCustomHeader && headers.get(CSRF_HEADER) !== '1') return false;
  // A browser sets Sec-Fetch-Site itself and no page can forge it; older browsers send Origin only.
  const site = headers.get('sec-fetch-site');
  if (site !== null) return site === 'same-origin';
  const origin = headers.get('origin');
  if (origin === null) return requireCustomHeader; // a form post without either is not trusted
  const host = headers.get('host');
  try {
    return host !== null && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Login sessions of token auth: the browser holds a random id, never the token itself. */
export class SessionStore {
  private readonly sessions = new Map<string, number>();
  constructor(private readonly ttlMs = 12 * 60 * 60 * 1000) {}

  create(): string {
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, Date.now() + this.ttlMs);
    return id;
  }

  valid(id: string | undefined): boolean {
    if (!id) return false;
    const expires = this.sessions.get(id);
    if (expires === undefined) return false;
    if (expires < Date.now()) {
      this.sessions.delete(id);
      return false;
    }
    return true;
  }
}

export const SESSION_COOKIE = 'thrun_dashboard_session';

export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/** Whether the request carries the configured credential (a bearer token, a session, basic auth). */
export function isAuthenticated(auth: DashboardAuth, headers: Headers, sessions: SessionStore): boolean {
  const authorization = headers.get('authorization') ?? '';
  if ('token' in auth) {
    if (authorization.startsWith('Bearer ')) return secretEquals(authorization.slice(7), auth.token);
    return sessions.valid(readCookie(headers.get('cookie'), SESSION_COOKIE));
  }
  if (!authorization.startsWith('Basic ')) return false;
  const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  // Both compared, always, so a wrong username takes as long as a wrong password.
  const userOk = secretEquals(decoded.slice(0, colon), auth.basic.username);
  const passOk = secretEquals(decoded.slice(colon + 1), auth.basic.password);
  return userOk && passOk;
}

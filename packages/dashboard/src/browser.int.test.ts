// The dashboard in a real browser: Debian's Chromium (scripts/tools/chromium.sh) driven by
// playwright-core, against a real Redis. Screenshots of the main pages go to
// $THRUN_DASHBOARD_SCREENSHOTS (default: a folder in the system's temporary directory).
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDashboard } from './serve.js';
import { eventually, redisScenario, requireRedis, type Scenario, XSS } from './test-support/fixture.js';

const CHROMIUM = process.env.THRUN_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = process.env.THRUN_DASHBOARD_SCREENSHOTS ?? join(tmpdir(), 'thrun-dashboard-screenshots');

type Served = Awaited<ReturnType<typeof serveDashboard>>;

/** The page refreshes every second or two: wait for what it shows longer than expect.poll's 1 s. */
const poll = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: 15_000, interval: 100 });

describe('the dashboard in Chromium, on Redis', () => {
  let browser: Browser;
  let scenario: Scenario;
  let served: Served;
  let page: Page;
  const violations: string[] = [];
  const dialogs: string[] = [];

  beforeAll(async () => {
    await requireRedis();
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    scenario = redisScenario();
    served = await serveDashboard({ thrun: scenario.viewer, port: 0, sampleIntervalMs: 250 });
    page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    page.on('pageerror', (error) => violations.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void (dialog.type() === 'confirm' ? dialog.accept() : dialog.dismiss());
    });
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
    await scenario?.close();
  });

  const counts = (name: string) => page.locator(`tr[data-queue="events"] td[data-count="${name}"]`);

  it('shows the queue counts, and they change as events are dispatched and handled', async () => {
    await page.goto(served.url);
    await poll(() => counts('waiting').textContent()).toBe('0');
    await scenario.worker.events([1, 2, 3].map((id) => ({ event: 'order_created', payload: { id } })));
    await poll(() => counts('waiting').textContent()).toBe('3');
    await page.locator('[data-testid="chart"] canvas').waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'queues.png') });
    await scenario.worker.start();
    await poll(() => counts('waiting').textContent()).toBe('0');
    expect(scenario.handled.filter((h) => h.startsWith('order_created'))).toHaveLength(3);
  });

  it('shows a poison message in the dead letters, with XSS payloads rendered as text', async () => {
    await scenario.worker.event('order_poison', { id: 9, note: XSS.script, name: XSS.img });
    await scenario.worker.transport.publish('events', [{ body: new TextEncoder().encode(XSS.script) }]);
    await poll(() => counts('dead').textContent()).toBe('2');

    await page.goto(`${served.url}#/dead?event=order_poison`);
    const rows = page.locator('[data-testid="dead-letters"] tr');
    await poll(() => rows.count()).toBe(1);
    // The reason's message carries both payloads: it must read as the text itself.
    expect(await rows.first().locator('td.reason').textContent()).toContain(XSS.img);
    await page.screenshot({ path: join(SCREENSHOTS, 'dead-letters.png') });
    await rows.first().getByRole('link', { name: 'Inspect' }).click();
    await page.locator('[data-testid="envelope"]').waitFor();
    const envelope = JSON.parse((await page.locator('[data-testid="envelope"]').textContent())!);
    expect(envelope.payload).toEqual({ id: 9, note: XSS.script, name: XSS.img });

    await page.goto(`${served.url}#/dead?reason=invalid_json`);
    await poll(() => rows.count()).toBe(1);
    await rows.first().getByRole('link', { name: 'Inspect' }).click();
    await page.locator('[data-testid="body"]').waitFor();
    expect(await page.locator('[data-testid="body"]').textContent()).toBe(XSS.script);

    // Inert: no script ran, no element came from a payload, no dialog opened.
    expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(await page.locator('#app img, #app script').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(violations).toEqual([]);
  });

  it('replays a dead letter from the page and the worker handles it', async () => {
    scenario.heal();
    await page.goto(`${served.url}#/dead?event=order_poison`);
    await poll(() => page.locator('[data-testid="dead-letters"] tr').count()).toBe(1);
    await page.getByTestId('replay').click();
    await poll(() => page.getByRole('status').last().textContent()).toContain('replayed 1');
    await eventually(() => scenario.handled.some((h) => h.startsWith('order_poison')));
    await page.goto(served.url);
    await poll(() => counts('dead').textContent()).toBe('1'); // the invalid JSON stays
  });

  it('refuses a POST without the CSRF header, even from the page itself', async () => {
    const status = await page.evaluate(async () => {
      const response = await fetch('api/dead/events/purge', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      return response.status;
    });
    expect(status).toBe(403);
    expect(await counts('dead').textContent()).toBe('1');
  });

  it('follows a batch to its end', async () => {
    const batchId = await scenario.worker.batch([
      { event: 'step.one', payload: { n: 1 } },
      { event: 'step.two', payload: { n: 2 } },
      { event: 'step.three', payload: { n: 3 } },
    ]);
    await page.goto(`${served.url}#/batches`);
    await page.locator(`tr[data-batch="${batchId}"] a`).click();
    await poll(() => page.getByTestId('batch-status').textContent()).toBe('succeeded');
    expect(await page.getByTestId('batch-progress').textContent()).toContain('3 / 3 (100%)');
    await page.screenshot({ path: join(SCREENSHOTS, 'batch.png') });
  });

  it('off loopback, asks for the token and never hands it to the page', async () => {
    const token = 'tok-browser-77aa';
    const guarded = await serveDashboard({
      thrun: scenario.viewer,
      host: '0.0.0.0',
      port: 0,
      auth: { token },
    });
    const base = `http://127.0.0.1:${new URL(guarded.url).port}/`;
    const context = await browser.newContext();
    const guest = await context.newPage();
    try {
      const refused = await guest.request.get(`${base}api/overview`);
      expect(refused.status()).toBe(401);
      await guest.goto(base);
      expect(new URL(guest.url()).pathname).toBe('/login');
      await guest.locator('input[name="token"]').fill(token);
      await guest.getByRole('button', { name: 'Sign in' }).click();
      await guest.locator('tr[data-queue="events"]').waitFor();
      expect(await guest.content()).not.toContain(token);
      const cookies = await context.cookies();
      expect(cookies.map((c) => c.value).join(' ')).not.toContain(token);
      expect(cookies.every((c) => c.httpOnly)).toBe(true);
    } finally {
      await context.close();
      await guarded.close();
    }
  });
});

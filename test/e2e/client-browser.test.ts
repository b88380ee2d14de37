/**
 * The SDK bundle in a real browser (Debian's Chromium via playwright-core): a page from
 * an allowed origin loads dist/backbeat-client.js, connects, subscribes, publishes and
 * receives; the server's origin allow-list is enforced on the browser's real Origin.
 * scripts/test.sh installs Chromium when it is missing.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/processes.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const ROOT = join(import.meta.dirname, '../..');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

describe('SDK in a browser', () => {
  let web: Server;
  let origin: string;
  let srv: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    execFileSync(
      join(ROOT, 'node_modules/.bin/esbuild'),
      [
        'src/client/index.ts',
        '--bundle',
        '--format=esm',
        '--platform=neutral',
        '--target=es2022',
        '--outfile=dist/backbeat-client.js',
      ],
      { cwd: ROOT },
    );
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    web = createServer((req, res) => {
      if (req.url === '/backbeat-client.js') {
        res.setHeader('content-type', 'text/javascript');
        res.end(readFileSync(join(ROOT, 'dist/backbeat-client.js')));
      } else {
        res.setHeader('content-type', 'text/html');
        // The page loads the shipped bundle itself, as an app would.
        res.end(
          '<!doctype html><title>backbeat</title><script type="module">' +
            "import { BackbeatClient } from '/backbeat-client.js'; window.BackbeatClient = BackbeatClient; window.bbLoaded = true;" +
            '</script><body>ok</body>',
        );
      }
    });
    await new Promise<void>((r) => web.listen(port, '127.0.0.1', r));
    srv = await startTestServer({ ALLOWED_ORIGINS: origin });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
    await new Promise((r) => web?.close(r));
  });

  it('connects from an allowed origin, subscribes, publishes and receives', async () => {
    const page = await browser.newPage();
    await page.goto(origin + '/');
    await page.waitForFunction(() => (window as unknown as { bbLoaded?: boolean }).bbLoaded === true);
    const token = await srv.token({ sub: 'browser-user' });
    const result = await page.evaluate(
      async ({ wsUrl, token }) => {
        type Sdk = typeof import('../../src/client/index.ts');
        const BackbeatClient = (window as unknown as { BackbeatClient: Sdk['BackbeatClient'] })
          .BackbeatClient;
        const client = new BackbeatClient(wsUrl, { token });
        const got: unknown[] = [];
        const sub = client.subscribe('chat:browser');
        sub.on('publication', (p) => got.push(p.data));
        await client.connect();
        await new Promise<void>((r) => (sub.state === 'subscribed' ? r() : sub.on('subscribed', () => r())));
        const { offset } = await sub.publish({
          from: navigator.userAgent.includes('Chrome') ? 'chrome' : 'other',
        });
        for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
        const user = client.info?.user;
        client.close();
        return { offset, got, user };
      },
      { wsUrl: srv.wsUrl, token },
    );
    expect(result).toEqual({ offset: 1, got: [{ from: 'chrome' }], user: 'browser-user' });
    await page.close();
  });

  it('a page from another origin is refused at the upgrade', async () => {
    const other = createServer((_req, res) => res.end('<!doctype html><body>evil</body>'));
    const port = await freePort();
    await new Promise<void>((r) => other.listen(port, '127.0.0.1', r));
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    const outcome = await page.evaluate(
      (wsUrl) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(wsUrl);
          ws.onopen = () => resolve('open');
          ws.onerror = () => resolve('refused');
        }),
      srv.wsUrl,
    );
    expect(outcome).toBe('refused');
    await page.close();
    await new Promise((r) => other.close(r));
  });
});

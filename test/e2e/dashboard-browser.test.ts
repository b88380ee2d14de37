/**
 * The live dashboard in a real browser (Debian's Chromium via playwright-core) against a
 * real server: `/dashboard#token=…` connects over the gateway's own `/ws` with the SDK
 * bundle, draws its uPlot charts from `system:metrics` pushes, shows a track that starts
 * trending after its plays are POSTed — without a reload — and an alert published on
 * `system:alerts`; it raises no page or console error (a CSP violation would be one).
 * Without a token, with a bad token and with a token lacking analytics:read it says so.
 * Writes test-results/dashboard.png on every run.
 *
 * Composition: if the app already serves /dashboard (the lead wired the routes and the
 * SystemPublisher into app.ts), the test uses it as is. Otherwise `composeDashboard`
 * mounts `dashboardRoutes` on a small fastify server whose `/ws` upgrades go to the same
 * app's gateway, and runs a SystemPublisher fed from real state: the app's Prometheus
 * registry and a stream handler counting the plays the test POSTs. Only that function
 * knows how the server is composed.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import Fastify from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemPublisher } from '../../src/analytics/dashboard/publisher.ts';
import { createLogger } from '../../src/core/observability/index.ts';
import { systemClock } from '../../src/core/time/index.ts';
import { DASHBOARD_CSP, dashboardRoutes } from '../../src/http/routes/dashboard.ts';
import type { EventHandler, StreamEvent } from '../../src/streaming/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const ROOT = join(import.meta.dirname, '../..');
const DIST = join(ROOT, 'dist');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const SCREENSHOT = join(ROOT, 'test-results/dashboard.png');

// ---- real data sources for the publisher (used only while the app does not wire its own) ----

/** Counts the plays of the event stream per track and artist, with unique listeners. */
class PlayCounter implements EventHandler {
  readonly name = 'dashboard-test-plays';
  readonly types: ReadonlySet<string> = new Set(['track.played']);
  readonly tracks = new Map<string, { plays: number; listeners: Set<string> }>();
  readonly artists = new Map<string, { plays: number; listeners: Set<string> }>();
  readonly users = new Set<string>();

  handle(e: StreamEvent): void {
    this.users.add(e.userId);
    for (const [map, id] of [
      [this.tracks, e.data['trackId']],
      [this.artists, e.data['artistId']],
    ] as const) {
      const s = map.get(id as string) ?? { plays: 0, listeners: new Set<string>() };
      s.plays++;
      s.listeners.add(e.userId);
      map.set(id as string, s);
    }
  }

  top(map: Map<string, { plays: number; listeners: Set<string> }>, limit = 10) {
    return [...map]
      .map(([id, s]) => ({ id, score: s.plays, plays: s.plays, uniqueListeners: s.listeners.size }))
      .sort((a, b) => b.score - a.score || a.id.localeCompare(b.id))
      .slice(0, limit);
  }
}

type Sample = {
  name: string;
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
};

/** The performance series from the app's Prometheus registry (rates from deltas between samples). */
class RegistrySampler {
  readonly #registry: Registry;
  #prev: { at: number; accepted: number } | undefined;
  #current: { at: number; sample: Promise<Record<string, number>> } | undefined;

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  /** One sample per publisher tick: calls within 100 ms share it (the rate needs one baseline). */
  sample(): Promise<Record<string, number>> {
    const now = Date.now();
    if (!this.#current || now - this.#current.at >= 100) this.#current = { at: now, sample: this.#take(now) };
    return this.#current.sample;
  }

  async #take(now: number): Promise<Record<string, number>> {
    const all = (await this.#registry.getMetricsAsJSON()) as unknown as Sample[];
    const get = (name: string) => all.find((m) => m.name === name)?.values ?? [];
    const sum = (name: string, pick: (l: Record<string, string | number>) => boolean = () => true) =>
      get(name)
        .filter((v) => pick(v.labels))
        .reduce((a, v) => a + v.value, 0);
    const accepted = sum('backbeat_streaming_events_ingested_total', (l) => l['outcome'] === 'accepted');
    const eps =
      this.#prev && now > this.#prev.at
        ? ((accepted - this.#prev.accepted) * 1000) / (now - this.#prev.at)
        : 0;
    this.#prev = { at: now, accepted };
    const requests = sum('backbeat_http_requests_total');
    const errors = sum('backbeat_http_requests_total', (l) => Number(l['status']) >= 500);
    // Quantiles from the cumulative latency histogram over every route (bucket upper bounds).
    const buckets = new Map<number, number>();
    for (const v of get('backbeat_http_request_duration_seconds')) {
      if (v.metricName?.endsWith('_bucket') && v.labels['le'] !== '+Inf')
        buckets.set(Number(v.labels['le']), (buckets.get(Number(v.labels['le'])) ?? 0) + v.value);
    }
    const count = get('backbeat_http_request_duration_seconds')
      .filter((v) => v.metricName?.endsWith('_count'))
      .reduce((a, v) => a + v.value, 0);
    const quantile = (q: number) => {
      for (const [le, n] of [...buckets].sort((a, b) => a[0] - b[0]))
        if (count > 0 && n >= q * count) return le * 1000;
      return 0;
    };
    return {
      connections: sum('backbeat_gateway_connections'),
      events_per_second: Math.round(eps * 100) / 100,
      events_total: accepted,
      http_p50_ms: quantile(0.5),
      http_p99_ms: quantile(0.99),
      http_error_rate: requests > 0 ? errors / requests : 0,
      event_lag: sum('backbeat_streaming_consumer_lag'),
      dlq_size: sum('backbeat_streaming_dead_letters'),
    };
  }
}

/** Where the dashboard is served, and what to stop afterwards. The one place that knows the composition. */
async function composeDashboard(
  srv: TestServer,
  state: { plays: PlayCounter; openAlerts: number },
): Promise<{ url: string; composed: boolean; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  if ((await fetch(`${srv.url}/dashboard`)).status !== 404) {
    return { url: `${srv.url}/dashboard`, composed: false, requests, close: async () => undefined };
  }
  const { plays } = state;
  const sampler = new RegistrySampler(srv.app.metrics.registry);
  const publisher = new SystemPublisher({
    publish: (channel, data) => srv.app.gateway.channels.publish(channel, data, undefined, 'http'),
    metrics: () => sampler.sample(),
    overview: async () => {
      const m = await sampler.sample();
      return {
        events: { total: m['events_total'], perSecond: m['events_per_second'] },
        activeUsers: plays.users.size,
        connections: m['connections'],
        topTracks: plays.top(plays.tracks, 5),
        http: { p50Ms: m['http_p50_ms'], p99Ms: m['http_p99_ms'], errorRate: m['http_error_rate'] },
        alerts: { open: state.openAlerts },
      };
    },
    trending: async () => ({ tracks: plays.top(plays.tracks), artists: plays.top(plays.artists) }),
    clock: systemClock,
    logger: createLogger('silent'),
    intervalMs: 250,
  });
  publisher.start();
  const web = Fastify({ forceCloseConnections: true });
  web.addHook('onRequest', async (req) => void requests.push(req.url));
  dashboardRoutes(web, { distDir: DIST });
  const sockets = new Set<Duplex>();
  web.server.on('upgrade', (req, socket, head) => {
    if ((req.url ?? '').split('?')[0] !== '/ws') return void socket.destroy();
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    srv.app.gateway.handleUpgrade(req, socket, head);
  });
  const at = await web.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: `${at}/dashboard`,
    composed: true,
    requests,
    async close() {
      await publisher.close();
      // Upgraded sockets are the gateway's, not fastify's: end them so close() need not wait for the app.
      for (const s of sockets) s.destroy();
      await web.close();
    },
  };
}

// ---- the browser ----

interface Watched {
  page: Page;
  errors: string[];
}

async function openPage(browser: Browser, url: string): Promise<Watched> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  return { page, errors };
}

const playsOf = (trackId: string, users: string[], artistId = `artist-${trackId}`) =>
  users.map((userId) => ({
    type: 'track.played',
    userId,
    ts: Date.now(),
    data: { trackId, artistId, durationMs: 200_000, playedMs: 190_000 },
  }));

describe('live dashboard in a browser', () => {
  const plays = new PlayCounter();
  /** What the composed publisher's overview reports as open alerts (the test plays the alert service). */
  const state = { plays, openAlerts: 0 };
  let srv: TestServer;
  let browser: Browser;
  let dash: Awaited<ReturnType<typeof composeDashboard>>;
  let writer: string;

  const post = async (events: unknown[]) => {
    const r = await fetch(`${srv.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(r.status).toBe(202);
    expect(((await r.json()) as { accepted: number }).accepted).toBe(events.length);
  };

  beforeAll(async () => {
    execFileSync(
      join(ROOT, 'node_modules/.bin/esbuild'),
      [
        'src/analytics/dashboard/page/main.ts',
        '--bundle',
        '--format=esm',
        '--platform=browser',
        '--target=es2022',
        '--minify',
        '--sourcemap',
        '--legal-comments=none',
        '--outfile=dist/dashboard.js',
        '--log-level=warning',
      ],
      { cwd: ROOT },
    );
    srv = await startTestServer({}, { eventHandlers: [plays] });
    writer = await srv.token({ sub: 'ingest', channels: [], publish: [], scope: 'events:write' });
    dash = await composeDashboard(srv, state);
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
    await dash?.close();
    await srv?.close();
  });

  it('serves the page with a strict CSP and no inline script', async () => {
    const r = await fetch(dash.url);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toBe(DASHBOARD_CSP);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self' ws: wss:");
    expect(csp).not.toContain('unsafe');
    const html = await r.text();
    expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script type="module" src="dashboard/app.js">']);
    expect(html).not.toMatch(/\sstyle=|<style/);
    for (const asset of ['app.js', 'app.css']) {
      const a = await fetch(dash.url.replace(/dashboard$/, `dashboard/${asset}`));
      expect(a.status, asset).toBe(200);
      expect((await a.arrayBuffer()).byteLength, asset).toBeGreaterThan(1000);
      expect(a.headers.get('content-type')).toMatch(
        asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/,
      );
    }
  });

  it('connects with an analytics:read token, draws live charts, shows a newly trending track and an alert without reloading', async () => {
    await post([
      ...playsOf('seed-anthem', ['u1', 'u2', 'u3']),
      ...playsOf('seed-ballad', ['u1', 'u2'], 'artist-seed-anthem'),
    ]);
    // No channels claim at all: the system: channels are readable through the scope alone.
    const token = await srv.token({ sub: 'ops', channels: [], publish: [], scope: 'analytics:read' });
    const { page, errors } = await openPage(browser, `${dash.url}#token=${token}`);
    try {
      await page.waitForSelector('body[data-state="live"]', { timeout: 15_000 });
      expect(await page.locator('#notice').isHidden()).toBe(true);

      // Six uPlot charts on real canvases, each redrawn from more than one push.
      await page.waitForFunction(
        () =>
          Array.from(document.querySelectorAll<HTMLElement>('[data-chart]')).every(
            (c) => Number(c.dataset['updates']) >= 2,
          ),
        undefined,
        { timeout: 15_000 },
      );
      const charts = await page.$$eval('[data-chart]', (els) =>
        els.map((el) => {
          const c = el.querySelector('canvas');
          return {
            key: (el as HTMLElement).dataset['chart'],
            w: c?.width ?? 0,
            h: c?.height ?? 0,
            updates: Number((el as HTMLElement).dataset['updates']),
          };
        }),
      );
      expect(charts.map((c) => c.key)).toEqual([
        'connections',
        'events_per_second',
        'http_p99_ms',
        'http_error_rate',
        'event_lag',
        'dlq_size',
      ]);
      for (const c of charts) {
        expect(c.w, c.key).toBeGreaterThan(100);
        expect(c.h, c.key).toBeGreaterThan(50);
        expect(c.updates, c.key).toBeGreaterThanOrEqual(2);
      }

      // The overview numbers, from system:overview.
      await page.waitForFunction(
        () => document.querySelector('[data-card="events"] .card-value')?.textContent !== '–',
        undefined,
        { timeout: 15_000 },
      );
      const connections = await page.locator('[data-card="connections"] .card-value').textContent();
      expect(Number(connections)).toBeGreaterThanOrEqual(1); // this page's own socket

      await page.waitForSelector('#trending-tracks li[data-id="seed-anthem"]', { timeout: 15_000 });

      // A new track starts trending: it appears in the list from pushes alone.
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
      const fresh = `fresh-${randomUUID().slice(0, 8)}`;
      await post(playsOf(fresh, ['u4', 'u5', 'u6', 'u7', 'u8'], 'artist-fresh'));
      await page.waitForSelector(`#trending-tracks li[data-id="${fresh}"]`, { timeout: 20_000 });
      await page.waitForSelector('#trending-artists li[data-id="artist-fresh"]', { timeout: 20_000 });

      // An alert change on system:alerts (as the alert service publishes it) shows, then resolves.
      const alert = {
        id: 'a-1',
        name: 'p99 too high',
        kind: 'threshold',
        metric: 'http_p99_ms',
        state: 'open',
        value: 812,
        openedAt: new Date().toISOString(),
      };
      await srv.app.gateway.channels.publish('system:alerts', alert, undefined, 'http');
      state.openAlerts = 1;
      await page.waitForSelector('#open-alerts li[data-alert="a-1"]', { timeout: 15_000 });
      expect(await page.locator('#open-alerts li[data-alert="a-1"]').textContent()).toContain('p99 too high');

      const live = await page.evaluate(() => ({
        marker: (window as unknown as { marker?: number }).marker,
        loads: (window as unknown as { backbeatDashboard: { loads: number } }).backbeatDashboard.loads,
        navigations: performance.getEntriesByType('navigation').length,
        pushes: (window as unknown as { backbeatDashboard: { pushes: Record<string, number> } })
          .backbeatDashboard.pushes,
      }));
      expect(live).toMatchObject({ marker: 42, loads: 1, navigations: 1 });
      for (const feed of ['overview', 'trending', 'metrics', 'alerts'])
        expect(live.pushes[feed], feed).toBeGreaterThanOrEqual(1);

      // Some seconds of traffic and series before the picture, so it shows lines rather than dots (best effort).
      const catalogue = ['midnight-drive', 'neon-rain', 'paper-moons', 'slow-tide'];
      for (let i = 0; i < 10; i++) {
        const track = catalogue[i % catalogue.length]!;
        await post(
          playsOf(
            track,
            ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].slice(0, 1 + ((i * 7) % 6)),
            `artist-${track.split('-')[0]}`,
          ),
        );
        await new Promise((r) => setTimeout(r, 300));
      }
      await page
        .waitForFunction(
          () =>
            Array.from(document.querySelectorAll<HTMLElement>('[data-chart]')).every(
              (c) => Number(c.dataset['points']) >= 40,
            ),
          undefined,
          { timeout: 12_000 },
        )
        .catch(() => undefined);
      mkdirSync(join(ROOT, 'test-results'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      await srv.app.gateway.channels.publish(
        'system:alerts',
        { ...alert, state: 'resolved', resolvedAt: new Date().toISOString() },
        undefined,
        'http',
      );
      state.openAlerts = 0;
      await page.waitForSelector('#open-alerts li[data-alert="a-1"]', { state: 'detached', timeout: 15_000 });

      expect(errors).toEqual([]);
      // The token stayed in the fragment: no request the server saw carried it.
      if (dash.composed) expect(dash.requests.filter((u) => u.includes(token))).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('without a token the page says how to open it', async () => {
    const { page, errors } = await openPage(browser, dash.url);
    try {
      await page.waitForSelector('body[data-state="no-token"]');
      const notice = page.locator('#notice[data-kind="no-token"]');
      expect(await notice.isVisible()).toBe(true);
      expect(await notice.textContent()).toContain('#token=');
      expect(errors).toEqual([]);
      mkdirSync(join(ROOT, 'test-results'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'test-results/dashboard-no-token.png') });
    } finally {
      await page.close();
    }
  });

  it('a token without analytics:read is refused its subscriptions, and the page says so; a new token in the fragment then connects without a reload', async () => {
    const token = await srv.token({
      sub: 'listener',
      channels: ['chat:*'],
      publish: [],
      scope: 'events:write',
    });
    const { page } = await openPage(browser, `${dash.url}#token=${token}`);
    try {
      await page.waitForSelector('#notice[data-kind="forbidden"]', { timeout: 15_000 });
      expect(await page.locator('#notice').textContent()).toContain('analytics:read');
      expect(await page.evaluate(() => document.body.dataset['state'])).toBe('forbidden');
      mkdirSync(join(ROOT, 'test-results'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'test-results/dashboard-forbidden.png') });

      // A new token in the fragment reconnects with it, without a reload.
      const good = await srv.token({ sub: 'ops', channels: [], publish: [], scope: 'analytics:read' });
      await page.evaluate((t) => (location.hash = `token=${t}`), good);
      await page.waitForSelector('body[data-state="live"]', { timeout: 15_000 });
      await page.waitForSelector('#trending-tracks li[data-id]', { timeout: 15_000 });
      expect(await page.locator('#notice').isHidden()).toBe(true);
      expect(
        await page.evaluate(
          () => (window as unknown as { backbeatDashboard: { loads: number } }).backbeatDashboard.loads,
        ),
      ).toBe(1);
    } finally {
      await page.close();
    }
  });

  it('an invalid token is refused at connect, and the page says so', async () => {
    const { page } = await openPage(browser, `${dash.url}#token=not-a-jwt`);
    try {
      await page.waitForSelector('#notice[data-kind="refused"]', { timeout: 15_000 });
      expect(await page.locator('#notice').textContent()).toContain('token was refused');
    } finally {
      await page.close();
    }
  });
});

describe('dashboard routes without the bundle', () => {
  it('GET /dashboard and its assets answer 503 in the SPEC error shape, naming npm run build:dashboard', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'backbeat-nodash-'));
    const app = Fastify();
    dashboardRoutes(app, { distDir: empty });
    try {
      for (const url of ['/dashboard', '/dashboard/app.js', '/dashboard/app.css']) {
        const r = await app.inject({ method: 'GET', url });
        expect(r.statusCode, url).toBe(503);
        const body = r.json<{ error: { code: string; message: string } }>();
        expect(body.error.code).toBe('unavailable');
        expect(body.error.message).toContain('npm run build:dashboard');
      }
    } finally {
      await app.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

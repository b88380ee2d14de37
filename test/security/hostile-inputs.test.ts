/**
 * The same hostile inputs through every entry point, generated from the tables that
 * define the entry points, so a new route or command cannot skip them:
 * - every HTTP route of the OpenAPI document (`/openapi.json`, built from the route table)
 *   gets hostile path parameters, query parameters and bodies;
 * - every WebSocket command of `CommandSchemas` gets each of its fields (and an unknown
 *   one) replaced by each hostile value.
 * What must hold: the answer is the sender's own error (HTTP 4xx in the SPEC shape,
 * WebSocket 4400/4403/4001/4013), never a 5xx / 4500 / 4503; the node stays ready and
 * serves other clients; and memory does not grow with the attack: each sequence runs four
 * times, and memory after rounds 3 and 4 (forced GCs) stays within 10 % of round 2's —
 * rounds 1 and 2 fill what the node keeps by design (history up to HISTORY_SIZE per
 * channel, resumable sessions, stored devices and templates, SQLite's page cache, the
 * template cache), later rounds must find nothing more to keep. Figures are printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHs256, type TokenClaims } from '../../src/core/auth/index.ts';
import { COMMAND_TYPES, CommandSchemas } from '../../src/gateway/index.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { TEST_SECRET } from '../helpers/server.ts';
import { orAfter } from '../helpers/deadline.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** The server under attack runs in its own process, so its memory is measured alone. */
class MeasuredServer {
  readonly child: ChildProcess;
  url = '';
  constructor(env: Record<string, string>) {
    this.child = spawn(
      join(ROOT, 'node_modules/.bin/node'),
      ['--expose-gc', '--max-semi-space-size=2', 'test/helpers/measured-server.ts'],
      {
        cwd: ROOT,
        // A small young generation: V8 grows its semi-spaces under allocation bursts and keeps
        // them after a GC, which moves RSS by tens of MB without anything being retained.
        // glibc gives each thread (libuv's pool: crypto, fs, SQLite) its own malloc arena, so
        // RSS after GC depends on which threads ran when; two arenas make it reflect what the
        // node keeps rather than thread scheduling on a loaded machine.
        env: { ...process.env, MALLOC_ARENA_MAX: '2', BACKBEAT_TEST_ENV: JSON.stringify(env) },
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      },
    );
  }
  get wsUrl(): string {
    return this.url.replace(/^http/, 'ws') + '/ws';
  }
  async ready(): Promise<this> {
    let out = '';
    await new Promise<void>((res, rej) => {
      this.child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /READY (\S+)/.exec(out);
        if (m) {
          this.url = m[1]!;
          res();
        }
      });
      this.child.once('exit', (code) => rej(new Error(`server exited ${code}`)));
    });
    return this;
  }
  token(claims: Partial<TokenClaims> = {}): Promise<string> {
    return signHs256(TEST_SECRET, { sub: 'alice', channels: ['*'], publish: ['*'], ...claims }, 3600);
  }
  /** The server's memory after four full GCs. */
  async memory(): Promise<{ rss: number; heap: number; external: number }> {
    const m = await new Promise<NodeJS.MemoryUsage>((res) => {
      this.child.once('message', (msg) => res(msg as NodeJS.MemoryUsage));
      this.child.send('measure');
    });
    return { rss: m.rss, heap: m.heapUsed, external: m.external };
  }
  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send('stop');
    await orAfter(exited, 5000, undefined);
    this.child.kill('SIGKILL');
  }
}

/**
 * Hostile JSON values as text (the test itself must not recurse over the deep ones), each
 * well under the 64 KiB frame and body limits once wrapped.
 */
const HOSTILE_JSON: Array<[string, string]> = [
  ['deep object', '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)],
  ['deep array', '['.repeat(8000) + ']'.repeat(8000)],
  ['wide object', JSON.stringify(Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`k${i}`, i])))],
  ['long string', JSON.stringify('x'.repeat(50_000))],
  ['huge number', '1e308'],
  ['overflowing number', '1e999'],
  ['beyond safe integer', '18446744073709551616'],
  ['tiny', '5e-324'],
  ['NUL and RTL', JSON.stringify('a\u0000b\u202e\u2066c\ud800')],
  ['__proto__', '{"__proto__":{"admin":true,"polluted":1},"constructor":{"prototype":{"polluted":1}}}'],
  ['empty string', '""'],
  ['null', 'null'],
  ['array of nulls', '[null,null]'],
  ['boolean', 'true'],
];
const SLOT = '"@@hostile-slot@@"';
/** JSON text of `template` with the one SLOT string replaced by `json`. */
const embed = (template: unknown, json: string): string => JSON.stringify(template).replace(SLOT, () => json);
const slot = JSON.parse(SLOT) as string;

/** Hostile strings for URLs (path and query), raw (already percent-encoded where needed). */
const HOSTILE_URL_PARTS: Array<[string, string]> = [
  ['long', 'x'.repeat(5000)],
  ['bad percent-encoding', '%ZZ%'],
  ['encoded NUL', '%00'],
  ['RTL', encodeURIComponent('a\u202eb')],
  ['dot segments', '..%2f..%2fetc%2fpasswd'],
  ['__proto__', '__proto__'],
  ['huge number', '1e308'],
  ['negative', '-1'],
  ['emoji', encodeURIComponent('🎵'.repeat(40))],
];

const isSpecError = (body: unknown): boolean => {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.message === 'string';
};

interface OpenApi {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: Array<{ name: string; in: string }>;
        requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> };
      }
    >
  >;
}

describe('hostile inputs through every entry point', () => {
  let srv: MeasuredServer;
  let admin: string;
  let start: { rss: number; heap: number; external: number };
  const report: string[] = [];

  beforeAll(async () => {
    srv = await new MeasuredServer({
      RATE_LIMIT_COMMANDS: '1000000',
      RATE_LIMIT_CLOSE_AFTER: '1000000',
      HTTP_MAX_PENDING_BODIES_PER_IP: '1000',
    }).ready();
    admin = await srv.token({ sub: 'ops', scope: 'admin' });
    // Warm every path once so baseline memory includes compiled code and caches.
    await fetch(`${srv.url}/openapi.json`);
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'warm' }));
    await c.request({ type: 'publish', channel: 'hx:warm', data: 1 });
    await c.close();
    start = await srv.memory();
  });

  afterAll(async () => {
    console.log(
      `memory under attack (after forced GCs; before any attack: rss ${(start.rss / 2 ** 20).toFixed(1)} MiB, heap ${(start.heap / 2 ** 20).toFixed(1)} MiB):\n  ${report.join('\n  ')}`,
    );
    await srv.close();
  });

  async function stillHealthy(): Promise<void> {
    expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
    const r = await fetch(`${srv.url}/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'hx:canary', data: 'still fine' }),
    });
    expect(r.status).toBe(200);
  }

  /** Runs `sequence` four times; memory after rounds 3 and 4 must stay within 10 % of round 2's. */
  async function withoutGrowth(name: string, sequence: () => Promise<number>): Promise<void> {
    let baseline: { rss: number; heap: number; external: number } | undefined;
    let warmRss = 0;
    for (let round = 1; round <= 4; round++) {
      const inputs = await sequence();
      await stillHealthy();
      const m = await srv.memory();
      // The baseline is the steady state after the warm-up: the larger of rounds 1 and 2.
      if (round === 2) baseline = { rss: Math.max(m.rss, warmRss), heap: m.heap, external: m.external };
      if (round === 1) warmRss = m.rss;
      if (!baseline) {
        report.push(
          `${name}, round ${round} (${inputs} inputs, warm-up): rss ${(m.rss / 2 ** 20).toFixed(1)} MiB, heap ${(m.heap / 2 ** 20).toFixed(1)} MiB`,
        );
        continue;
      }
      const rssRatio = m.rss / baseline.rss;
      const heapRatio = m.heap / baseline.heap;
      report.push(
        `${name}, round ${round} (${inputs} inputs): rss ${(m.rss / 2 ** 20).toFixed(1)} MiB (${(rssRatio * 100).toFixed(1)} % of the warm-up), heap ${(m.heap / 2 ** 20).toFixed(1)} MiB (${(heapRatio * 100).toFixed(1)} %), external ${(m.external / 2 ** 20).toFixed(1)} MiB`,
      );
      expect(heapRatio, `${name}: live heap after round ${round} vs the warm-up`).toBeLessThan(1.1);
      expect(rssRatio, `${name}: RSS after round ${round} vs the warm-up`).toBeLessThan(1.1);
    }
  }

  it('every HTTP route of the OpenAPI document: hostile path params, query params and bodies get 4xx in the SPEC shape', async () => {
    await withoutGrowth('HTTP', httpSequence);
  }, 180_000);

  async function httpSequence(): Promise<number> {
    let count = 0;
    const doc = (await (await fetch(`${srv.url}/openapi.json`)).json()) as OpenApi;
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    );
    expect(routes.length).toBeGreaterThanOrEqual(15);
    const seen: string[] = [];
    const send = async (
      method: string,
      url: string,
      body?: string,
      contentType = 'application/json',
    ): Promise<void> => {
      const r = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${admin}`,
          ...(body !== undefined ? { 'content-type': contentType } : {}),
        },
        ...(body !== undefined ? { body } : {}),
      });
      const text = await r.text();
      count++;
      expect(r.status, `${method} ${url.slice(0, 200)} → ${text.slice(0, 300)}`).toBeLessThan(500);
      if (r.status >= 400)
        expect(isSpecError(JSON.parse(text)), `${method} ${url.slice(0, 120)} → ${text.slice(0, 200)}`).toBe(
          true,
        );
    };
    for (const { path, method, op } of routes) {
      if (path === '/metrics' || path.startsWith('/docs')) continue;
      seen.push(`${method} ${path}`);
      const params = op.parameters ?? [];
      const fill = (p: string, hostile?: [string, string]): string =>
        p.replace(/\{(\w+)\}/g, (_m, name: string) =>
          hostile && name === hostile[0] ? hostile[1] : name === 'channel' ? 'hx:a' : 'u1',
        );
      // Path parameters.
      for (const param of params.filter((p) => p.in === 'path')) {
        for (const [, value] of HOSTILE_URL_PARTS)
          await send(
            method,
            `${srv.url}${fill(path, [param.name, value])}`,
            method === 'GET' || method === 'DELETE' ? undefined : '{}',
          );
      }
      // Query parameters (each declared one, plus an undeclared one).
      for (const name of [...params.filter((p) => p.in === 'query').map((p) => p.name), 'unknown']) {
        for (const [, value] of HOSTILE_URL_PARTS)
          await send(
            method,
            `${srv.url}${fill(path)}?${name}=${value}`,
            method === 'GET' || method === 'DELETE' ? undefined : '{}',
          );
      }
      // Bodies: the whole body hostile, and each declared property hostile.
      if (op.requestBody) {
        const props = Object.keys(op.requestBody.content?.['application/json']?.schema?.properties ?? {});
        for (const [, json] of HOSTILE_JSON) {
          await send(method, `${srv.url}${fill(path)}`, json);
          for (const prop of props)
            await send(
              method,
              `${srv.url}${fill(path)}`,
              embed({ channel: 'hx:a', data: 1, [prop]: slot }, json),
            );
        }
        await send(method, `${srv.url}${fill(path)}`, '{"a":1,"a":2,"__proto__":{"x":1}}');
        await send(method, `${srv.url}${fill(path)}`, '\u0000');
      }
    }
    // The generated walk reached the routes that carry user JSON.
    expect(seen).toEqual(
      expect.arrayContaining(['POST /v1/publish', 'POST /v1/events', 'POST /v1/users/{id}/disconnect']),
    );
    return count;
  }

  it('every WebSocket command of CommandSchemas: each field hostile gets the sender’s own error, never 4500/4503', async () => {
    await withoutGrowth('WebSocket', wsSequence);
  }, 180_000);

  async function wsSequence(): Promise<number> {
    const token = await srv.token({ sub: 'hx', channels: ['hx:*'], publish: ['hx:*'] });
    const bases: Record<string, Record<string, unknown>> = {
      connect: { token },
      subscribe: { channel: 'hx:a' },
      unsubscribe: { channel: 'hx:a' },
      publish: { channel: 'hx:a', data: 1 },
      presence: { channel: 'hx:a' },
      history: { channel: 'hx:a' },
      refresh: { token },
      event: { event: { type: 'app.opened', ts: Date.now(), data: { platform: 'ios' } } },
    };
    const bystander = await RawClient.connect(
      srv.wsUrl,
      await srv.token({ sub: 'bystander', channels: ['hx:*'], publish: ['hx:*'] }),
    );
    let sent = 0;
    for (const type of COMMAND_TYPES) {
      const fields = [
        ...Object.keys(CommandSchemas[type].properties).filter((f) => f !== 'id' && f !== 'type'),
        'unknownField',
      ];
      // `event`'s payload: its envelope fields too.
      const nested =
        type === 'event' ? ['type', 'userId', 'ts', 'v', 'id', 'data'].map((f) => `event.${f}`) : [];
      for (const field of [...fields, ...nested]) {
        for (const [what, json] of HOSTILE_JSON) {
          // connect failures close the socket: a fresh socket per connect case.
          const c =
            type === 'connect' ? await RawClient.open(srv.wsUrl) : await RawClient.connect(srv.wsUrl, token);
          const cmd: Record<string, unknown> = { id: 77, type, ...structuredClone(bases[type] ?? {}) };
          if (field.startsWith('event.')) (cmd['event'] as Record<string, unknown>)[field.slice(6)] = slot;
          else cmd[field] = slot;
          const replied = c.waitFor((f) => f.id === 77, 10_000, `reply to ${type}.${field} = ${what}`);
          c.sendRaw(embed(cmd, json));
          const reply = await replied;
          sent++;
          const code = reply['code'];
          if (reply['type'] === 'error')
            expect(
              [4001, 4003, 4400, 4013],
              `${type}.${field} = ${what} → ${JSON.stringify(reply).slice(0, 200)}`,
            ).toContain(code);
          if (type !== 'connect') expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
          await c.close();
        }
      }
    }
    expect(sent).toBeGreaterThan(COMMAND_TYPES.length * 14);
    expect(await bystander.request({ type: 'publish', channel: 'hx:b', data: 'ok' })).toMatchObject({
      type: 'published',
    });
    await bystander.close();
    return sent;
  }
});

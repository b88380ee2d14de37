/**
 * Shared by the GDPR suites (gdpr.test.ts, gdpr-kafka.test.ts): a GdprService over a real
 * App's stores (as the composition root wires it), a small fastify with the GDPR routes,
 * events, and a byte scan of every file under a directory.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { App } from '../../src/app.ts';
import { GdprService, pushGdpr, streamingGdpr, type Eraser } from '../../src/analytics/gdpr/index.ts';
import { createLogger, Metrics } from '../../src/core/observability/index.ts';
import { systemClock } from '../../src/core/time/index.ts';
import { installErrorMapping } from '../../src/http/errors.ts';
import { gdprRoutes } from '../../src/http/routes/gdpr.ts';

export const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');

/** The GDPR service as app.ts wires it: erasers and exporters over the stream and push, the store's own part built in. */
export function gdprFor(
  app: App,
  opts: { consentDefault?: 'granted' | 'denied'; wrap?: (e: Eraser) => Eraser } = {},
): GdprService {
  const streaming = streamingGdpr(app.streaming);
  const push = pushGdpr(app.push!);
  const wrap = opts.wrap ?? ((e: Eraser) => e);
  return new GdprService({
    store: app.store!,
    erasers: [wrap(streaming.eraser), wrap(push.eraser)],
    exporters: [streaming.exporter, push.exporter],
    consentDefault: opts.consentDefault ?? 'granted',
    clock: systemClock,
    logger,
    registry: new Registry(),
    retryBaseMs: 50,
    retryMaxMs: 500,
  });
}

/** A small HTTP server with the GDPR routes and the SPEC error shape (until app.ts wires them). */
export async function gdprHttp(
  app: App,
  gdpr: GdprService,
): Promise<{ url: string; server: FastifyInstance }> {
  const server = Fastify({
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
  });
  installErrorMapping(server, new Metrics(), logger);
  gdprRoutes(server, gdpr, app.verifier);
  await server.listen({ host: '127.0.0.1', port: 0 });
  const addr = server.server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}`, server };
}

/** Every regular file under `dir`, recursively, with its bytes. */
export function filesUnder(dir: string): Array<{ path: string; bytes: Buffer }> {
  const out: Array<{ path: string; bytes: Buffer }> = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push({ path: p, bytes: readFileSync(p) });
  }
  return out;
}

/**
 * Checkpoints every SQLite database under `dir` into its main file (from a second
 * connection), so that what was written sits in the database pages themselves: an erasure
 * must then overwrite it there (secure_delete), not just drop WAL frames.
 */
export function checkpointAll(dir: string): string[] {
  const dbs = filesUnder(dir)
    .filter((f) => f.path.endsWith('.db'))
    .map((f) => f.path);
  for (const path of dbs) {
    const db = new DatabaseSync(path);
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get();
    } finally {
      db.close();
    }
  }
  return dbs;
}

/** Files under `dir` whose bytes contain `needle` (UTF-8), and how many bytes were scanned. */
export function scan(dir: string, needle: string): { hits: string[]; files: number; bytes: number } {
  const files = filesUnder(dir);
  const n = Buffer.from(needle, 'utf8');
  return {
    hits: files.filter((f) => f.bytes.includes(n)).map((f) => f.path),
    files: files.length,
    bytes: files.reduce((s, f) => s + f.bytes.length, 0),
  };
}

const TRACKS = Array.from({ length: 12 }, (_, i) => `trk-${i}`);

/** `n` listening events of a user (plays, likes, playlist adds, an app open), in the last hour. */
export function eventsOf(userId: string, n: number, seed = 0): Array<Record<string, unknown>> {
  const t0 = Date.now() - 3_600_000;
  return Array.from({ length: n }, (_, i) => {
    const trackId = TRACKS[(i * 5 + seed) % TRACKS.length]!;
    const base = { id: randomUUID(), userId, ts: t0 + i * 1000 };
    switch (i % 6) {
      case 3:
        return { ...base, type: 'track.liked', data: { trackId, artistId: `art-${trackId}` } };
      case 4:
        return { ...base, type: 'playlist.track_added', data: { playlistId: `pl-${userId}`, trackId } };
      case 5:
        return { ...base, type: 'app.opened', data: { platform: 'ios' } };
      default:
        return {
          ...base,
          type: 'track.played',
          data: { trackId, artistId: `art-${trackId}`, durationMs: 200_000, playedMs: 190_000 },
        };
    }
  });
}

export async function postEvents(url: string, token: string, events: unknown[]): Promise<number> {
  const res = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  if (res.status !== 202) throw new Error(`POST /v1/events: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { accepted: number }).accepted;
}

/**
 * Embedded ingest end to end: HTTP batches → validation → the SQLite log (fsync per
 * batch) → the stream processor and its handlers (plays, recommendations). Starts a real
 * Backbeat server process (bench/peers/backbeat.ts), posts N play events in batches of
 * BATCH from C concurrent keep-alive connections, and waits until the processor has
 * handled all of them. Prints `RESULT {json}`:
 * - ackPerSec: events acknowledged (202, durable) per second;
 * - endToEndPerSec: events handled by every handler per second, first POST → last handled;
 * - postP50ms / postP99ms: latency of one batch POST;
 * - healthzP99ms: latency of GET /healthz, polled every 20 ms from the first POST until all
 *   is handled (how responsive the node stays for other clients while the stream works);
 * - drainMs: from the last 202 until the handlers had handled everything (the lag back to
 *   zero once the load stops; target ≤ 2 s);
 * - storagePerSec: the ceiling of the storage itself, measured after the server stopped:
 *   the same rows (the stored form of the same events) inserted by a bare node:sqlite loop
 *   into a fresh file with the log's schema and pragmas (WAL, synchronous=FULL), one
 *   1,000-row transaction each; endToEndVsStorage = endToEndPerSec / storagePerSec.
 * Usage: node bench/streaming/ingest.ts [N=300000] [BATCH=1000] [C=4]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { startBackbeatPeer } from './peer.ts';

const N = Number(process.argv[2] ?? 300_000);
const BATCH = Number(process.argv[3] ?? 1000);
const C = Number(process.argv[4] ?? 4);

const { url, headers, stop } = await startBackbeatPeer();

// Zipf-ish tracks over 5,000, 10,000 users, a day of event time.
let seed = 42;
const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const t0 = Date.now() - 86_400_000;
const bodies: string[] = [];
for (let b = 0; b < N / BATCH; b++) {
  const events = [];
  for (let i = 0; i < BATCH; i++) {
    const n = b * BATCH + i;
    const track = Math.floor(5000 * rnd() ** 3);
    events.push({
      type: 'track.played',
      userId: `u${Math.floor(rnd() * 10_000)}`,
      ts: t0 + n, // event time advances 1 ms per event (300k events: 5 minutes)
      data: {
        trackId: `t${track}`,
        artistId: `a${track % 500}`,
        durationMs: 200_000,
        playedMs: Math.floor(rnd() * 200_000),
      },
    });
  }
  bodies.push(JSON.stringify(events));
}

const latencies: number[] = [];
// How responsive the node stays for everyone else meanwhile: GET /healthz every 20 ms.
const probeLatencies: number[] = [];
let loading = true;
const prober = (async () => {
  while (loading) {
    const t = performance.now();
    await (await fetch(`${url}/healthz`)).text();
    probeLatencies.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 20));
  }
})();
let next = 0;
let acked = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: C }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      const t = performance.now();
      const res = await fetch(`${url}/v1/events`, { method: 'POST', headers, body });
      const json = (await res.json()) as { accepted: number };
      if (res.status !== 202) throw new Error(`POST /v1/events → ${res.status}`);
      latencies.push(performance.now() - t);
      acked += json.accepted;
    }
  }),
);
const ackedAt = performance.now();
for (;;) {
  const stats = (await (await fetch(`${url}/v1/events/stats`, { headers })).json()) as {
    processor: { handled: number; lag: number };
  };
  // The built-in handlers (the stream worker's count) and every other processor (lag 0).
  if (stats.processor.handled >= acked && stats.processor.lag === 0) break;
  await new Promise((r) => setTimeout(r, 5));
}
const doneAt = performance.now();
loading = false;
await prober;
await stop();

// The storage ceiling: the same events in their stored form, a bare insert loop.
const storageDir = mkdtempSync(join(tmpdir(), 'bb-ceiling-'));
const db = new DatabaseSync(join(storageDir, 'events.db'));
db.exec(`
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = FULL;
  PRAGMA secure_delete = ON;
  CREATE TABLE events (offset INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, key TEXT NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL);
  CREATE INDEX events_ts ON events (ts);
`);
const insert = db.prepare('INSERT OR IGNORE INTO events (id, key, ts, body) VALUES (?, ?, ?, ?)');
const receivedAt = Date.now();
const rows = bodies.map((b) =>
  (JSON.parse(b) as Array<{ userId: string; ts: number }>).map((e) => {
    const id = randomUUID();
    return [id, e.userId, e.ts, JSON.stringify({ id, v: 1, ...e, receivedAt, trace: {} })] as const;
  }),
);
const s0 = performance.now();
for (const batch of rows) {
  db.exec('BEGIN IMMEDIATE');
  for (const r of batch) insert.run(...r);
  db.exec('COMMIT');
}
const storagePerSec = Math.round(N / ((performance.now() - s0) / 1000));
db.close();
rmSync(storageDir, { recursive: true, force: true });
latencies.sort((a, b) => a - b);
const q = (p: number) =>
  Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]! * 100) / 100;
console.log(
  `RESULT ${JSON.stringify({
    events: acked,
    batch: BATCH,
    concurrency: C,
    ackPerSec: Math.round(acked / ((ackedAt - started) / 1000)),
    endToEndPerSec: Math.round(acked / ((doneAt - started) / 1000)),
    drainMs: Math.round(doneAt - ackedAt),
    storagePerSec,
    endToEndVsStorage: Math.round((acked / ((doneAt - started) / 1000) / storagePerSec) * 1000) / 1000,
    postP50ms: q(0.5),
    postP99ms: q(0.99),
    healthzP99ms: (() => {
      probeLatencies.sort((a, b) => a - b);
      const v = probeLatencies[Math.min(probeLatencies.length - 1, Math.floor(0.99 * probeLatencies.length))];
      return Math.round((v ?? 0) * 100) / 100;
    })(),
  })}`,
);
process.exit(0);

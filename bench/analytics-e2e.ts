/**
 * `npm run bench -- analytics-e2e` (issue #10): analytics and GDPR end to end, each part on
 * a real App (test/helpers/server.ts: its own DATA_DIR, embedded SQLite log), in this one
 * process. Writes bench/results/analytics-e2e.json and analytics-e2e.md.
 * 1. erasure: 1,000,000 plays of ~10k users appended through `streaming.accept` (batches of
 *    5,000, processor running), processor caught up; then `gdpr.erase(user)` → receipt `done`
 *    (polled every 5 ms) for a user with ~100 events, `streaming.eraseUser` alone for another,
 *    and a check that both users' events are gone and a third user's are intact.
 * 2. event to insight: POST /v1/events at 10k events/s (100 per batch every 10 ms, 20 s);
 *    every 5th batch after a 2 s warm-up carries one play of a fresh user and a fresh track;
 *    from its 202, in-process polling every ~1 ms until the track is in
 *    `analytics.trending('track','1h',100)` and `analytics.user(id)` exists.
 * 3. dashboard: one play of a fresh track on a quiet App → the `system:trending` publication
 *    naming it reaches a raw WebSocket client subscribed with an `analytics:read` token.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mulberry32 } from '../src/core/random/index.ts';
import { RawClient, type Frame } from '../test/helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../test/helpers/server.ts';

const ROOT = join(import.meta.dirname, '..');
const N_EVENTS = Number(process.env['AE_EVENTS'] ?? 1_000_000);
const N_USERS = 10_000;
const FILL_BATCH = 5_000;
const RATE_SECONDS = Number(process.env['AE_SECONDS'] ?? 20);
const DASH_SAMPLES = Number(process.env['AE_DASH_SAMPLES'] ?? 20);
const LIVE = process.env['AE_PROCESSOR'] === 'live';
const startedAt = Date.now();

const pct = (xs: number[], p: number): number | null => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!);
};
const round = (x: number) => Math.round(x * 100) / 100;
const rssMB = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const log = (msg: string) =>
  console.log(`[analytics-e2e +${((Date.now() - startedAt) / 1000).toFixed(1)}s] ${msg}`);

async function until(
  pred: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(everyMs);
  }
}

// ---- 1. erasure from a log of 1M events -------------------------------------------------

async function erasure(): Promise<Record<string, unknown>> {
  const srv = await startTestServer({ EVENTS_MAX_BATCH: String(FILL_BATCH) });
  try {
    const { streaming, analytics } = srv.app;
    const gdpr = srv.app.gdpr;
    if (!gdpr) throw new Error('app.gdpr is not set after start()');
    const rnd = mulberry32(7);
    const perUser = new Uint32Array(N_USERS);
    const t0 = Date.now() - 6 * 3_600_000; // event time: 1M events over ~5.5 h, well inside retention
    // AE_PROCESSOR=live: handlers run during the fill and the erasure waits until they caught up (1M events
    // with ~100 per user took ~240 s here: the handlers slow down as per-user histories grow). Default
    // `stopped`: the log is filled with the processor stopped (as bench/streaming/intake.ts), so the erasure
    // runs against the same 1M-row log with empty handler state.
    if (!LIVE) await streaming.pauseProcessing();
    const tFill = performance.now();
    for (let b = 0; b < N_EVENTS / FILL_BATCH; b++) {
      const events = [];
      for (let i = 0; i < FILL_BATCH; i++) {
        const n = b * FILL_BATCH + i;
        const u = Math.floor(rnd() * N_USERS);
        perUser[u]!++;
        const track = Math.floor(5000 * rnd() ** 3);
        events.push({
          type: 'track.played',
          userId: `u${u}`,
          ts: t0 + n * 20,
          data: {
            trackId: `t${track}`,
            artistId: `a${track % 500}`,
            durationMs: 200_000,
            playedMs: Math.floor(rnd() * 200_000),
          },
        });
      }
      const r = await streaming.accept(events, { source: 'http' });
      if (r.accepted !== FILL_BATCH)
        throw new Error(
          `fill: accepted ${r.accepted} of ${FILL_BATCH}: ${JSON.stringify(r.rejected.slice(0, 3))}`,
        );
    }
    const fillMs = performance.now() - tFill;
    log(`filled ${N_EVENTS} events in ${Math.round(fillMs)} ms${LIVE ? '; waiting for the processor' : ''}`);
    if (LIVE) {
      await streaming.caughtUp(240_000);
      await analytics.settled();
    }
    const caughtUpMs = LIVE ? performance.now() - tFill : null;
    if (caughtUpMs !== null)
      log(`processor caught up ${Math.round(caughtUpMs)} ms after the fill began (rss ${rssMB()} MB)`);

    // Users with ~100 events: the erased ones (gdpr, then streaming alone, then gdpr again) and a witness.
    const near100 = [...perUser.keys()].filter((u) => perUser[u] === 100);
    const [ua, ub, uc, witness] = near100.length >= 4 ? near100 : [1, 2, 3, 4];
    const id = (u: number) => `u${u}`;
    const before = await Promise.all(
      [ua!, ub!, uc!, witness!].map(async (u) => (await streaming.exportUser(id(u))).events.length),
    );
    const profileBefore = analytics.user(id(ua!)) !== undefined;

    const timeGdpr = async (u: number) => {
      const storesDoneAt: Record<string, number> = {};
      const t = performance.now();
      const { receiptId } = await gdpr.erase(id(u));
      const requestMs = performance.now() - t;
      let polls = 0;
      await until(
        async () => {
          polls++;
          const p = await gdpr.erasure(receiptId);
          for (const [store, s] of Object.entries(p?.stores ?? {}))
            if (s === 'done' && storesDoneAt[store] === undefined)
              storesDoneAt[store] = round(performance.now() - t);
          return p?.status === 'done';
        },
        60_000,
        5,
        `erasure of ${id(u)} done`,
      );
      return {
        user: id(u),
        events: perUser[u],
        totalMs: round(performance.now() - t),
        requestMs: round(requestMs),
        storesDoneAtMs: storesDoneAt,
        polls,
      };
    };

    const first = await timeGdpr(ua!);
    log(`gdpr.erase(${id(ua!)}) → done in ${first.totalMs} ms`);
    const t = performance.now();
    const streamingAlone = await streaming.eraseUser(id(ub!));
    const streamingAloneMs = round(performance.now() - t);
    log(`streaming.eraseUser(${id(ub!)}) alone: ${streamingAloneMs} ms (${streamingAlone.events} records)`);
    const second = await timeGdpr(uc!);
    log(`gdpr.erase(${id(uc!)}) → done in ${second.totalMs} ms`);

    const after = await Promise.all(
      [ua!, ub!, uc!, witness!].map(async (u) => (await streaming.exportUser(id(u))).events.length),
    );
    const heads = (await srv.app.streaming.stats()).log;
    return {
      processor: LIVE ? 'live' : 'stopped',
      events: N_EVENTS,
      users: N_USERS,
      fillMs: Math.round(fillMs),
      fillPerSec: Math.round(N_EVENTS / (fillMs / 1000)),
      caughtUpMs: caughtUpMs === null ? null : Math.round(caughtUpMs),
      rssMB: rssMB(),
      log: heads,
      gdprErase: first,
      gdprEraseSecond: second,
      streamingEraseUser: {
        user: id(ub!),
        events: perUser[ub!],
        ms: streamingAloneMs,
        result: streamingAlone,
      },
      check: {
        eventsBefore: {
          [id(ua!)]: before[0],
          [id(ub!)]: before[1],
          [id(uc!)]: before[2],
          [`${id(witness!)} (witness)`]: before[3],
        },
        eventsAfter: {
          [id(ua!)]: after[0],
          [id(ub!)]: after[1],
          [id(uc!)]: after[2],
          [`${id(witness!)} (witness)`]: after[3],
        },
        erasedGone: after[0] === 0 && after[1] === 0 && after[2] === 0,
        witnessIntact: after[3] === before[3] && before[3] === perUser[witness!],
        analyticsProfileBefore: profileBefore,
        analyticsProfileAfter: analytics.user(id(ua!)) !== undefined,
      },
    };
  } finally {
    await srv.close();
  }
}

// ---- 2. event to insight at 10k events/s --------------------------------------------------

async function insight(): Promise<Record<string, unknown>> {
  const srv = await startTestServer();
  try {
    const { analytics, streaming } = srv.app;
    const token = await srv.token({ sub: 'bench', scope: 'admin' });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const rnd = mulberry32(11);
    const BATCH = 100;
    const PERIOD_MS = 10;
    const WARMUP_MS = 2000;
    const batches = Math.round((RATE_SECONDS * 1000) / PERIOD_MS);
    interface Sample {
      k: number;
      sentAt: number;
      ackAt: number;
      trackMs?: number;
      userMs?: number;
    }
    const pending: Sample[] = [];
    const done: Sample[] = [];
    const missed: Sample[] = [];
    const postMs: number[] = [];
    let acked = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    let failures = 0;
    const handled0 = streaming.handled;
    let maxBacklog = 0;
    const backlogSeries: number[] = [];

    let polling = true;
    let pollTicks = 0;
    const pollGaps: number[] = [];
    const poller = (async () => {
      let last = performance.now();
      while (polling) {
        await sleep(1);
        const now = performance.now();
        pollGaps.push(now - last);
        last = now;
        pollTicks++;
        if (!pending.length) continue;
        const top = new Set(analytics.trending('track', '1h', 100).items.map((i) => i.id));
        for (let i = pending.length - 1; i >= 0; i--) {
          const s = pending[i]!;
          if (s.trackMs === undefined && top.has(`mt${s.k}`)) s.trackMs = now - s.ackAt;
          if (s.userMs === undefined && analytics.user(`mu${s.k}`) !== undefined) s.userMs = now - s.ackAt;
          if (s.trackMs !== undefined && s.userMs !== undefined) done.push(...pending.splice(i, 1));
          else if (now - s.ackAt > 10_000) missed.push(...pending.splice(i, 1));
        }
      }
    })();
    const lagTimer = setInterval(() => {
      const backlog = Math.max(0, acked - (streaming.handled - handled0)); // handled may run ahead of the client seeing the 202
      backlogSeries.push(backlog);
      if (backlog > maxBacklog) maxBacklog = backlog;
    }, 100);

    const send = async (k: number, marked: boolean) => {
      const now = Date.now();
      const events = [];
      for (let i = 0; i < BATCH; i++) {
        const track = Math.floor(20 * rnd());
        events.push({
          type: 'track.played',
          userId: `bu${Math.floor(rnd() * N_USERS)}`,
          ts: now,
          data: {
            trackId: `bt${track}`,
            artistId: `ba${track % 5}`,
            durationMs: 200_000,
            playedMs: 30_000 + Math.floor(rnd() * 170_000),
          },
        });
      }
      if (marked)
        events[BATCH - 1] = {
          type: 'track.played',
          userId: `mu${k}`,
          ts: now,
          data: { trackId: `mt${k}`, artistId: `ma${k}`, durationMs: 200_000, playedMs: 120_000 },
        };
      inFlight++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
      const sentAt = performance.now();
      try {
        const res = await fetch(`${srv.url}/v1/events`, {
          method: 'POST',
          headers,
          body: JSON.stringify(events),
        });
        const body = (await res.json()) as { accepted: number };
        const ackAt = performance.now();
        if (res.status !== 202 || body.accepted !== BATCH)
          throw new Error(`POST /v1/events → ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
        acked += body.accepted;
        postMs.push(ackAt - sentAt);
        if (marked) pending.push({ k, sentAt, ackAt });
      } catch (err) {
        failures++;
        if (failures <= 3) console.error(`analytics-e2e: ${(err as Error).message}`);
      } finally {
        inFlight--;
      }
    };

    const load0 = loadavg()[0];
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const sends: Promise<void>[] = [];
    let late = 0;
    for (let k = 0; k < batches; k++) {
      const due = start + k * PERIOD_MS;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -PERIOD_MS) late++;
      sends.push(send(k, k * PERIOD_MS >= WARMUP_MS && k % 5 === 0));
    }
    await Promise.all(sends);
    const sendEnd = performance.now();
    const tDrain = performance.now();
    await streaming.caughtUp(120_000);
    const drainMs = performance.now() - tDrain;
    await until(() => pending.length === 0, 15_000, 5, 'samples to settle').catch(() => undefined);
    polling = false;
    await poller;
    clearInterval(lagTimer);
    const cpu = process.cpuUsage(cpu0);
    const durationS = (sendEnd - start) / 1000;
    const trackMs = done.map((s) => s.trackMs!);
    const userMs = done.map((s) => s.userMs!);
    return {
      offeredPerSec: (BATCH * 1000) / PERIOD_MS,
      durationS: round(durationS),
      accepted: acked,
      achievedPerSec: Math.round(acked / durationS),
      postFailures: failures,
      lateBatches: late,
      maxInFlight,
      postP50ms: pct(postMs, 50),
      postP99ms: pct(postMs, 99),
      samples: done.length,
      missed: missed.length + pending.length,
      trending: { p50ms: pct(trackMs, 50), p99ms: pct(trackMs, 99), maxMs: pct(trackMs, 100) },
      user: { p50ms: pct(userMs, 50), p99ms: pct(userMs, 99), maxMs: pct(userMs, 100) },
      backlog: {
        maxEvents: maxBacklog,
        p50Events: pct(backlogSeries, 50),
        p99Events: pct(backlogSeries, 99),
        drainAfterLastAckMs: Math.round(drainMs),
      },
      poll: {
        ticks: pollTicks,
        gapP50ms: pct(pollGaps, 50),
        gapP99ms: pct(pollGaps, 99),
        gapMaxMs: pct(pollGaps, 100),
      },
      cpuSeconds: round((cpu.user + cpu.system) / 1e6),
      loadavg1: [load0, loadavg()[0]],
      rssMB: rssMB(),
    };
  } finally {
    await srv.close();
  }
}

// ---- 3. play → system:trending on a WebSocket --------------------------------------------

async function dashboard(): Promise<Record<string, unknown>> {
  const srv: TestServer = await startTestServer();
  let client: RawClient | undefined;
  try {
    const writer = await srv.token({ sub: 'bench', scope: 'admin' });
    const reader = await srv.token({ sub: 'ops', channels: [], publish: [], scope: 'analytics:read' });
    client = await RawClient.connect(srv.wsUrl, reader);
    const sub = await client.request({ type: 'subscribe', channel: 'system:trending' });
    if (sub.type !== 'subscribed') throw new Error(`subscribe: ${JSON.stringify(sub)}`);
    const rnd = mulberry32(3);
    const lat: number[] = [];
    const rank: number[] = [];
    let missed = 0;
    for (let i = 0; i < DASH_SAMPLES; i++) {
      await sleep(600 + rnd() * 800); // not in phase with the publisher's 1 s tick
      const from = client.frames.length;
      const trackId = `dt${i}`;
      const names = (f: Frame) =>
        f.type === 'message' &&
        f['channel'] === 'system:trending' &&
        ((f['data'] as { tracks?: Array<{ id: string }> }).tracks ?? []).some((t) => t.id === trackId);
      const res = await fetch(`${srv.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' },
        body: JSON.stringify([
          {
            type: 'track.played',
            userId: `du${i}`,
            ts: Date.now(),
            data: { trackId, artistId: `da${i}`, durationMs: 200_000, playedMs: 120_000 },
          },
        ]),
      });
      await res.arrayBuffer();
      const ackAt = performance.now();
      if (res.status !== 202) throw new Error(`POST /v1/events → ${res.status}`);
      try {
        const f = await client.waitFor(names, 5000, `system:trending naming ${trackId}`, from);
        lat.push(performance.now() - ackAt);
        rank.push(
          (f['data'] as { tracks: Array<{ id: string }> }).tracks.findIndex((t) => t.id === trackId) + 1,
        );
      } catch {
        missed++;
      }
    }
    return {
      samples: lat.length,
      missed,
      p50ms: pct(lat, 50),
      p99ms: pct(lat, 99),
      maxMs: pct(lat, 100),
      minMs: pct(lat, 0.0001),
      rankInTop10: { p50: pct(rank, 50), max: pct(rank, 100) },
    };
  } finally {
    await client?.close();
    await srv.close();
  }
}

// ---- run, write ---------------------------------------------------------------------------

const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  memGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  date: new Date().toISOString(),
  loadavg1Before: loadavg()[0] ?? 0,
};
const parts: Record<string, Record<string, unknown> | { error: string }> = {};
for (const [name, fn] of [
  ['erasure', erasure],
  ['insight', insight],
  ['dashboard', dashboard],
] as const) {
  const t = Date.now();
  try {
    parts[name] = { ...(await fn()), partSeconds: Math.round((Date.now() - t) / 1000) };
  } catch (err) {
    console.error(`analytics-e2e ${name}: ${(err as Error).stack}`);
    parts[name] = { error: (err as Error).message };
  }
  log(`${name}: ${JSON.stringify(parts[name])}`);
}
const totalSeconds = Math.round((Date.now() - startedAt) / 1000);
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(
  join(ROOT, 'bench/results/analytics-e2e.json'),
  JSON.stringify({ machine: { ...machine, loadavg1After: loadavg()[0], totalSeconds }, parts }, null, 2) +
    '\n',
);

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const e = parts['erasure'] as Any;
const s = parts['insight'] as Any;
const d = parts['dashboard'] as Any;
const fmt = (x: unknown) =>
  typeof x === 'number' ? x.toLocaleString('en-US') : x === undefined || x === null ? '—' : String(x);
const met = (x: unknown, lt: number) => (typeof x === 'number' ? (x < lt ? 'yes' : '**no**') : '—');
const rows: string[][] = [];
if (e?.error) rows.push(['erasure', 'error', e.error, '', '']);
else if (e) {
  rows.push(
    [
      'erasure',
      `fill: ${fmt(e.events)} events, ${fmt(e.users)} users, through streaming.accept (ms; events/s)`,
      `${fmt(e.fillMs)}; ${fmt(e.fillPerSec)}`,
      '',
      '',
    ],
    [
      'erasure',
      e.processor === 'live'
        ? 'processor caught up, from the fill’s start (ms)'
        : 'processor: stopped during the fill and the erasure (AE_PROCESSOR=stopped)',
      e.processor === 'live' ? fmt(e.caughtUpMs) : '—',
      '',
      '',
    ],
    [
      'erasure',
      `gdpr.erase(${e.gdprErase.user}, ${e.gdprErase.events} events) → receipt done (ms)`,
      fmt(e.gdprErase.totalMs),
      '< 5,000 ms',
      met(e.gdprErase.totalMs, 5000),
    ],
    [
      'erasure',
      'stores done at (ms after the request)',
      Object.entries(e.gdprErase.storesDoneAtMs as Record<string, number>)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
      '',
      '',
    ],
    [
      'erasure',
      `streaming.eraseUser(${e.streamingEraseUser.user}, ${e.streamingEraseUser.events} events) alone (ms)`,
      fmt(e.streamingEraseUser.ms),
      '',
      '',
    ],
    [
      'erasure',
      `gdpr.erase again, another user (${e.gdprEraseSecond.user}) → done (ms)`,
      fmt(e.gdprEraseSecond.totalMs),
      '< 5,000 ms',
      met(e.gdprEraseSecond.totalMs, 5000),
    ],
    [
      'erasure',
      'erased users’ events gone / witness user intact (streaming.exportUser)',
      `${e.check.erasedGone} / ${e.check.witnessIntact}`,
      'true / true',
      e.check.erasedGone && e.check.witnessIntact ? 'yes' : '**no**',
    ],
  );
}
if (s?.error) rows.push(['insight', 'error', s.error, '', '']);
else if (s) {
  rows.push(
    [
      'insight',
      `offered / achieved events/s (${s.durationS} s, ${fmt(s.accepted)} accepted, ${s.postFailures} failed POSTs)`,
      `${fmt(s.offeredPerSec)} / ${fmt(s.achievedPerSec)}`,
      '10,000',
      s.achievedPerSec >= 9500 ? 'yes' : '**no**',
    ],
    [
      'insight',
      'POST batch of 100 → 202, p50 / p99 (ms)',
      `${fmt(s.postP50ms)} / ${fmt(s.postP99ms)}`,
      '',
      '',
    ],
    [
      'insight',
      `202 → track in trending('track','1h',100), p50 / p99 / max (ms; ${s.samples} samples, ${s.missed} missed)`,
      `${fmt(s.trending.p50ms)} / ${fmt(s.trending.p99ms)} / ${fmt(s.trending.maxMs)}`,
      'p99 < 100 ms',
      met(s.trending.p99ms, 100),
    ],
    [
      'insight',
      '202 → analytics.user(id) has the profile, p50 / p99 / max (ms)',
      `${fmt(s.user.p50ms)} / ${fmt(s.user.p99ms)} / ${fmt(s.user.maxMs)}`,
      'p99 < 100 ms',
      met(s.user.p99ms, 100),
    ],
    [
      'insight',
      'processor backlog (acked − handled), sampled every 100 ms: p50 / p99 / max (events)',
      `${fmt(s.backlog.p50Events)} / ${fmt(s.backlog.p99Events)} / ${fmt(s.backlog.maxEvents)}`,
      '',
      '',
    ],
    ['insight', 'processor caught up after the last 202 (ms)', fmt(s.backlog.drainAfterLastAckMs), '', ''],
    [
      'insight',
      'poll interval p50 / p99 / max (ms; event-loop health of the measuring process)',
      `${fmt(s.poll.gapP50ms)} / ${fmt(s.poll.gapP99ms)} / ${fmt(s.poll.gapMaxMs)}`,
      '',
      '',
    ],
  );
}
if (d?.error) rows.push(['dashboard', 'error', d.error, '', '']);
else if (d)
  rows.push([
    'dashboard',
    `202 → system:trending naming the track at a WebSocket client, p50 / p99 / max (ms; ${d.samples} samples, ${d.missed} missed)`,
    `${fmt(d.p50ms)} / ${fmt(d.p99ms)} / ${fmt(d.maxMs)}`,
    '< 1,000 ms',
    met(d.p99ms, 1000),
  ]);

const md = [
  '# Analytics end to end (issue #10)',
  '',
  `Generated by \`npm run bench -- analytics-e2e\` on ${machine.date.slice(0, 10)}: ${machine.cpus} cores (${String(machine.cpuModel)}), ${machine.memGiB} GiB, Node ${machine.node}; one run (${totalSeconds} s in all), everything in one process (the App, the load and the measurements share its event loop and the 2 cores); 1-min load average ${machine.loadavg1Before.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after.`,
  '',
  `- **erasure**: a real App (embedded SQLite log, fresh DATA_DIR), 1,000,000 \`track.played\` events of 10,000 users (≈100 each) appended with \`streaming.accept\` in batches of 5,000 (processor: ${LIVE ? 'running; the erasure starts once it caught up' : 'stopped during the fill and the erasure, so the log is full-size but the handlers hold nothing; \`AE_PROCESSOR=live\` runs them (≈4 min for 1M events here)'}); \`gdpr.erase(user)\` → the receipt polled (every 5 ms) until \`done\`; \`streaming.eraseUser\` timed alone on another user; checked with \`streaming.exportUser\`.`,
  "- **insight**: a fresh App; `POST /v1/events` at 10,000 events/s (100 per batch every 10 ms, 20 background tracks, 10,000 background users); every 5th batch after a 2 s warm-up has one play of a fresh user and a fresh track; from the 202 (in this process), polled every ~1 ms: the track among `analytics.trending('track','1h',100)` and `analytics.user(id)` defined.",
  '- **dashboard**: a fresh, quiet App; one play of a fresh track, 0.6–1.4 s apart; time from the 202 to the first `system:trending` message naming it at a raw WebSocket client (token scope `analytics:read`).',
  '',
  '| part | metric | value | target | met |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.join(' | ')} |`),
  '',
  'Raw data: analytics-e2e.json.',
  '',
];
writeFileSync(join(ROOT, 'bench/results/analytics-e2e.md'), md.join('\n'));
console.log(md.join('\n'));
console.log('wrote bench/results/analytics-e2e.json and bench/results/analytics-e2e.md');
process.exit(0);

/**
 * WorkerHost and the worker's side (runtime.ts) over a MessageChannel in this thread (the
 * e2e suite test/e2e/streaming-worker.test.ts runs them in a real worker thread): the
 * ports (log consume with commit after the ack, heads, the dead-letter store, pushes),
 * every query and command, a worker that goes away mid-stream and is restarted from its
 * snapshot without counting anything twice, and the metrics it reports.
 */
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/observability/index.ts';
import { SqliteDeadLetterStore } from '../dlq/store.ts';
import type { StreamEvent } from '../events/index.ts';
import { SqliteEventLog } from '../log/sqlite-log.ts';
import { StreamingMetrics } from '../metrics.ts';
import { WorkerHost, type WorkerLike } from './host.ts';
import type { WorkerData } from './protocol.ts';
import { runStreamWorker } from './runtime.ts';

/** A "worker" in this thread: runtime.ts on one end of a MessageChannel. */
class InThreadWorker extends EventEmitter {
  readonly #channel = new MessageChannel();
  #gone = false;
  constructor(data: WorkerData) {
    super();
    this.#channel.port1.on('message', (m) => this.emit('message', m));
    runStreamWorker(this.#channel.port2, data);
  }
  postMessage(m: unknown): void {
    if (!this.#gone) this.#channel.port1.postMessage(m);
  }
  /** The thread dies: nothing more crosses, `exit` with `code`. */
  crash(code = 1): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#channel.port1.close();
    this.#channel.port2.close();
    setImmediate(() => this.emit('exit', code));
  }
  async terminate(): Promise<number> {
    this.crash(1);
    return 1;
  }
}

const NOW = Date.UTC(2026, 2, 10, 12);
let n = 0;
const play = (userId: string, trackId: string): StreamEvent => ({
  id: `ev-${++n}`,
  type: 'track.played',
  v: 1,
  userId,
  ts: NOW + n * 1000,
  receivedAt: NOW + n * 1000,
  data: { trackId, artistId: `a-${trackId}`, durationMs: 200_000, playedMs: 190_000 },
  trace: {},
});

let dir: string;
let log: SqliteEventLog;
let dlq: SqliteDeadLetterStore;
let registry: Registry;
let host: WorkerHost;
let workers: InThreadWorker[];
let pushes: Array<[string, unknown]>;

function newHost(extra: Partial<WorkerData> = {}): WorkerHost {
  return new WorkerHost({
    log,
    dlq,
    logger: createLogger('silent'),
    registry,
    metrics: new StreamingMetrics(registry),
    publish: async (userId, data) => {
      pushes.push([userId, data]);
    },
    restartBaseMs: 1,
    restartMaxMs: 5,
    spawn: (data) => {
      const w = new InThreadWorker(data);
      workers.push(w);
      return w as unknown as WorkerLike;
    },
    workerData: {
      group: 'node-1.handlers',
      logKind: 'sqlite',
      logLevel: 'silent',
      retry: { attempts: 2, baseMs: 1, maxMs: 2 },
      handlers: { pushDebounceMs: 10, pushItems: 5, maxPendingPushes: 100, maxPushesPerSec: 1000 },
      snapshots: {
        dir: join(dir, 'snapshots', 'handlers'),
        keep: 2,
        everyEvents: 1_000_000,
        everyMs: 3_600_000,
      },
      owns: false,
      testHooks: true,
      ...extra,
    },
  });
}

async function append(events: StreamEvent[]): Promise<void> {
  const results = await log.append(
    events.map((e) => ({ id: e.id, key: e.userId, ts: e.ts, body: JSON.stringify(e) })),
  );
  for (const r of results) host.noteAppended(r.partition, r.offset);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bb-worker-'));
  log = new SqliteEventLog(join(dir, 'events.db'));
  await log.start();
  dlq = new SqliteDeadLetterStore(join(dir, 'dlq.db'));
  registry = new Registry();
  workers = [];
  pushes = [];
  host = newHost();
});

afterEach(async () => {
  await host.close();
  await log.close();
  await dlq.close();
  rmSync(dir, { recursive: true, force: true });
});

const until = async (ok: () => boolean, what: string) => {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) throw new Error(`timed out: ${what}`);
};

describe('WorkerHost', () => {
  it('handles the log in the worker and answers every query from there', async () => {
    await host.start();
    expect(host.up).toBe(true);
    await append([
      play('u-1', 't-a'),
      play('u-1', 't-b'),
      play('u-2', 't-a'),
      play('u-2', 't-b'),
      play('u-3', 't-a'),
    ]);
    expect(host.lag).toBeGreaterThan(0);
    await host.caughtUp(10_000);
    expect(host.lag).toBe(0);
    expect(host.handled).toBe(5);
    expect(await host.trackStats('t-a')).toMatchObject({ trackId: 't-a', plays: 3 });
    expect(await host.userListening('u-1')).toMatchObject({ user: 'u-1', plays: 2 });
    expect(await host.userListening('nobody')).toMatchObject({ plays: 0, session: null });
    expect((await host.recommend('u-3', 5)).items.map((i) => i.trackId)).toContain('t-b');
    expect(await host.sizes()).toEqual({ tracks: 2, artists: 2, users: 3 });
    expect(await host.windows()).toHaveProperty('minutes');
    expect(await host.stats()).toEqual({ handled: 5, applied: { 0: 5 }, snapshots: true });
    expect(await host.exportUser('u-1')).toMatchObject({
      listening: { plays: 2 },
      recommendations: { known: true },
    });
    // The live plays were pushed through the main thread's publish.
    await until(() => pushes.length >= 3, 'recommendation pushes');
    expect(pushes.map(([u]) => u).sort()).toEqual(['u-1', 'u-2', 'u-3']);
    const families = await host.metrics();
    const plays = families.find((m) => m.name === 'backbeat_streaming_plays_total');
    expect(plays?.values).toEqual([expect.objectContaining({ labels: { outcome: 'complete' }, value: 5 })]);
    const starts = families.find((m) => m.name === 'backbeat_streaming_snapshot_starts_total');
    expect(starts?.values[0]?.labels).toEqual({ outcome: 'full_replay', processor: 'handlers' });
    expect(families.some((m) => m.name === 'backbeat_streaming_dead_letters')).toBe(false);
  });

  it('restarts a worker that went away from its snapshot: nothing lost, nothing counted twice', async () => {
    await host.start();
    await append(Array.from({ length: 20 }, (_, i) => play(`u-${i % 4}`, 't-x')));
    await host.caughtUp(10_000);
    expect(await host.snapshotNow()).toMatch(/\.bbsnap$/);
    await append(Array.from({ length: 10 }, (_, i) => play(`u-${i % 4}`, 't-x')));
    await host.caughtUp(10_000);
    const exited = once(workers.at(-1)!, 'exit');
    workers.at(-1)!.crash(70);
    await exited;
    expect(host.up).toBe(false);
    await expect(host.trackStats('t-x')).rejects.toMatchObject({ key: 'UNAVAILABLE' });
    await append(Array.from({ length: 5 }, (_, i) => play(`u-${i % 4}`, 't-x')));
    await host.caughtUp(10_000); // waits for the restart
    expect(workers).toHaveLength(2);
    expect(await host.trackStats('t-x')).toMatchObject({ plays: 35 });
    // Restored at 20, replayed the 10 committed ones (flagged replay) and the 5 new ones.
    expect(host.handled).toBe(15);
    expect(
      (await registry.getSingleMetric('backbeat_streaming_worker_restarts_total')!.get()).values[0]!.value,
    ).toBe(1);
  });

  it('dead letters go to the main store and replay through the worker handler', async () => {
    await host.start();
    await host.faultForTest('plays', 'bad');
    const bad = play('u-9', 'bad-1');
    await append([bad, play('u-9', 'good-1')]);
    await host.caughtUp(10_000);
    expect(await dlq.count()).toBe(1);
    expect((await dlq.list({ limit: 10 }))[0]).toMatchObject({ handler: 'plays', eventId: bad.id });
    expect(await host.replayOne('plays', bad, 0, 1)).toMatchObject({ ok: false, code: 'bad_request' });
    expect(await host.replayOne('nope', bad, 0, 1)).toMatchObject({ ok: false });
    await host.faultForTest('plays', null);
    expect(await host.replayOne('plays', bad, 0, 1)).toEqual({ ok: true });
    expect(await host.trackStats('bad-1')).toMatchObject({ plays: 1 });
  });

  it('erases a user, pauses and resumes, and closes with a last snapshot', async () => {
    await host.start();
    await append([play('victim', 't-v'), play('keeper', 't-v')]);
    await host.caughtUp(10_000);
    await host.erase('victim');
    expect(await host.userListening('victim')).toMatchObject({ plays: 0 });
    await host.forget('keeper');
    await host.reached(0, 2);
    await host.purgeSnapshots();
    expect(await host.userListening('keeper')).toMatchObject({ plays: 0 });
    await host.pause();
    await append([play('later', 't-v')]);
    await host.resume();
    await host.caughtUp(10_000);
    expect(await host.trackStats('t-v')).toMatchObject({ plays: 3 });
    await host.close();
    expect(host.up).toBe(false);
    await expect(host.caughtUp(100)).rejects.toThrow(/closing/);
    expect(await host.metrics()).toEqual([]);
    // A new host on the same directory restores the snapshot written on close.
    registry = new Registry();
    host = newHost();
    await host.start();
    expect(await host.trackStats('t-v')).toMatchObject({ plays: 3 });
    expect(host.handled).toBe(0);
  });
});

/**
 * The EventLog contract (src/streaming/log/port.ts) for every engine, and crash safety of
 * the embedded one. Add an engine as one more entry of `factories`; the suite does not
 * change (the factories are in event-logs.ts). Each test gets its own log (a fresh SQLite file, a fresh Kafka topic).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SqliteEventLog,
  type EventLog,
  type LogConsumer,
  type RecordBatch,
  type StoredRecord,
} from '../../src/streaming/index.ts';
import { until } from '../helpers/wait.ts';
import { eventLogFactories } from './event-logs.ts';

const dirs: string[] = [];
const logs: EventLog[] = [];
const consumers: LogConsumer[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'bb-log-'));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.close()));
  await Promise.all(logs.splice(0).map((l) => l.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const rec = (id: string, key = 'u1', ts = 1000) => ({ id, key, ts, body: JSON.stringify({ id, key }) });

/** Collects every batch a consumer is handed; `fail` decides per batch whether the handler rejects. */
function collector(fail: (b: RecordBatch, n: number) => boolean = () => false) {
  const batches: RecordBatch[] = [];
  let n = 0;
  const handler = async (b: RecordBatch) => {
    if (fail(b, n++)) throw new Error('handler failed');
    batches.push(b);
  };
  const records = () => batches.flatMap((b) => b.records.map((r) => ({ ...r, replay: b.replay })));
  return { batches, handler, records, ids: () => records().map((r) => r.id) };
}

describe.each(eventLogFactories())('EventLog contract: $name', (f) => {
  const open = async (path = dir(), name = `t-${randomUUID()}`) => {
    const l = f.open(path, name);
    logs.push(l);
    await l.start();
    return l;
  };
  const consume = async (log: EventLog, ...args: Parameters<EventLog['consume']>) => {
    const c = await log.consume(...args);
    consumers.push(c);
    return c;
  };

  it('appends durably and hands every record to a consumer, per key in append order', async () => {
    const log = await open();
    const batch = Array.from({ length: 60 }, (_, i) => rec(`e${i}`, `user-${i % 5}`));
    const results = await log.append(batch);
    expect(results.every((r) => !r.duplicate && r.offset >= 0)).toBe(true);
    // A key always lands on one partition.
    for (let i = 5; i < 60; i++) expect(results[i]!.partition).toBe(results[i - 5]!.partition);
    const c = collector();
    await consume(log, `g-${randomUUID()}`, c.handler);
    await until(() => c.ids().length >= 60, 'all 60 consumed');
    expect(new Set(c.ids()).size).toBe(60);
    for (let k = 0; k < 5; k++) {
      const seen = c.records().filter((r) => r.key === `user-${k}`);
      expect(seen.map((r) => r.id)).toEqual(batch.filter((r) => r.key === `user-${k}`).map((r) => r.id));
      const offsets = seen.map((r) => r.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b)); // growing within the partition
    }
    expect(c.batches.every((b) => b.records.every((r) => r.partition === b.partition))).toBe(true);
    const heads = await log.heads();
    for (const r of c.records()) expect(heads[r.partition]).toBeGreaterThanOrEqual(r.offset);
  });

  it('drops duplicates by id, also within one batch', async () => {
    const log = await open();
    await log.append([rec('a'), rec('b')]);
    const again = await log.append([rec('b'), rec('c'), rec('c')]);
    expect(again.map((r) => r.duplicate)).toEqual([true, false, true]);
    const c = collector();
    await consume(log, `g-${randomUUID()}`, c.handler);
    await until(() => c.ids().length >= 3, 'a, b, c consumed');
    await new Promise((r) => setTimeout(r, 300));
    expect(c.ids().sort()).toEqual(['a', 'b', 'c']);
  });

  it('delivers records appended while the consumer waits', async () => {
    const log = await open();
    const c = collector();
    await consume(log, `g-${randomUUID()}`, c.handler);
    await log.append([rec('late-1')]);
    await until(() => c.ids().includes('late-1'), 'late-1 consumed');
    await log.append([rec('late-2'), rec('late-3')]);
    await until(() => c.ids().length === 3, 'late-2 and late-3 consumed');
    expect(c.records().every((r) => !r.replay)).toBe(true);
  });

  it('a consumer working through a backlog lets the event loop turn (HTTP, timers, a worker are served meanwhile)', async () => {
    const log = await open();
    for (let b = 0; b < 10; b++)
      await log.append(Array.from({ length: 100 }, (_, i) => rec(`bl-${b}-${i}`, `user-${i % 4}`)));
    let handled = 0;
    // Every batch keeps the thread busy for 2 ms, as handlers replaying a log do.
    const busy = async (b: RecordBatch) => {
      const end = performance.now() + 2;
      while (performance.now() < end);
      handled += b.records.length;
    };
    let atTimer = -1;
    setTimeout(() => (atTimer = handled), 0);
    await consume(log, `g-${randomUUID()}`, busy, { maxBatch: 10 });
    await until(() => handled >= 1000, 'the backlog handled');
    // The timer ran while the backlog was being worked through, not after all of it.
    expect(atTimer).toBeGreaterThanOrEqual(0);
    expect(atTimer).toBeLessThan(1000);
  });

  it('at-least-once: a rejected batch comes again, nothing is skipped', async () => {
    const log = await open();
    await log.append(Array.from({ length: 20 }, (_, i) => rec(`r${i}`)));
    const c = collector((_b, n) => n < 3); // the first three attempts fail
    await consume(log, `g-${randomUUID()}`, c.handler, { retryBackoffMs: 5 });
    await until(() => c.ids().length >= 20, 'all 20 after retries');
    expect(c.ids()).toEqual(Array.from({ length: 20 }, (_, i) => `r${i}`));
  });

  it('a group resumes after its last committed batch; another group starts from the beginning', async () => {
    const path = dir();
    const name = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    const log = await open(path, name);
    await log.append(Array.from({ length: 10 }, (_, i) => rec(`a${i}`)));
    const first = collector();
    const c1 = await consume(log, group, first.handler);
    await until(() => first.ids().length >= 10, 'first 10');
    await c1.close();
    await log.append(Array.from({ length: 5 }, (_, i) => rec(`b${i}`)));
    const second = collector();
    await consume(log, group, second.handler);
    await until(() => second.ids().length >= 5, 'the next 5');
    await new Promise((r) => setTimeout(r, 300));
    expect(second.ids()).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    const other = collector();
    await consume(log, `g-${randomUUID()}`, other.handler);
    await until(() => other.ids().length >= 15, 'a new group sees all 15');
  });

  it(
    'erases a key: its records gone or shredded for every reader, other keys untouched, offsets never reused',
    { timeout: 60_000 },
    async () => {
      const log = await open();
      const batch = Array.from({ length: 12 }, (_, i) =>
        rec(`g${i}`, i % 3 === 0 ? 'gone' : `stay-${i % 2}`),
      );
      const first = await log.append(batch);
      expect((await log.readKey('gone')).map((r) => r.id)).toEqual(['g0', 'g3', 'g6', 'g9']);
      expect((await log.readKey('gone')).map((r) => r.body)).toEqual(
        ['g0', 'g3', 'g6', 'g9'].map((id) => rec(id, 'gone').body),
      );
      const erased = await log.eraseKey('gone');
      expect(erased.deleted + erased.keysDestroyed).toBeGreaterThan(0);
      expect(await log.eraseKey('gone')).toMatchObject({ deleted: 0, keysDestroyed: 0 }); // idempotent
      // The key may come back: a new record of it is an ordinary one.
      const later = await log.append([rec('after-0', 'stay-0'), rec('after-1', 'gone')]);
      const maxBefore = Math.max(
        ...first.filter((r) => r.partition === later[0]!.partition).map((r) => r.offset),
      );
      expect(later[0]!.offset).toBeGreaterThan(maxBefore);
      const c = collector();
      await consume(log, `g-${randomUUID()}`, c.handler, { from: 'earliest' });
      await until(
        () => c.ids().includes('after-0') && c.ids().includes('after-1'),
        'records after the erasure consumed',
      );
      const readable = c.records().filter((r) => !r.shredded && !r.body.includes('backbeat.user.erased'));
      expect(readable.map((r) => r.id).sort()).toEqual(
        [...batch.filter((r) => r.key !== 'gone').map((r) => r.id), 'after-0', 'after-1'].sort(),
      );
      for (const r of readable) expect(r.body).toBe(rec(r.id, r.key).body);
      // What is left of the erased records (Kafka cannot rewrite its log) carries nothing readable.
      for (const r of c.records().filter((x) => x.shredded))
        expect({ key: r.key, body: r.body }).toEqual({ key: 'gone', body: '' });
      expect((await log.readKey('gone')).map((r) => r.id)).toEqual(['after-1']);
    },
  );

  it('from earliest: committed records come again flagged replay, then live ones unflagged', async () => {
    const path = dir();
    const name = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    const log = await open(path, name);
    await log.append(Array.from({ length: 8 }, (_, i) => rec(`x${i}`, `k${i % 2}`)));
    const first = collector();
    const c1 = await consume(log, group, first.handler);
    await until(() => first.ids().length >= 8, 'first 8');
    await c1.close();
    await log.append([rec('y0', 'k0'), rec('y1', 'k1')]);
    const again = collector();
    await consume(log, group, again.handler, { from: 'earliest' });
    await until(() => again.ids().length >= 10, 'replay of 8 + 2 live');
    const byId = new Map<string, StoredRecord & { replay: boolean }>(again.records().map((r) => [r.id, r]));
    for (let i = 0; i < 8; i++) expect(byId.get(`x${i}`)?.replay).toBe(true);
    expect([byId.get('y0')?.replay, byId.get('y1')?.replay]).toEqual([false, false]);
  });
});

describe('embedded log', () => {
  it('erasure leaves holes in the offsets: consumers read across them, a group resumes past them, heads follow the last record', async () => {
    const log = new SqliteEventLog(join(dir(), 'events.db'));
    logs.push(log);
    const consume = async (...args: Parameters<EventLog['consume']>) => {
      const c = await log.consume(...args);
      consumers.push(c);
      return c;
    };
    await log.append(
      Array.from({ length: 10 }, (_, i) => rec(`h${i}`, [1, 2, 3, 8, 9].includes(i) ? 'gone' : 'kept')),
    );
    const group = 'g-holes';
    const first = collector();
    const c1 = await consume(group, first.handler, { maxBatch: 3 });
    await until(() => first.ids().length === 10, 'all 10 before the erasure');
    await c1.close();
    expect(await log.eraseKey('gone')).toEqual({ deleted: 5, keysDestroyed: 0 });
    // The newest records were erased: the head is the last one left, so "caught up" stays reachable.
    expect(await log.heads()).toEqual({ 0: 8 });
    expect(log.readSync(0, 100).map((r) => r.offset)).toEqual([1, 5, 6, 7, 8]);
    await log.append([rec('n0', 'kept'), rec('n1', 'gone')]);
    expect(log.readSync(8, 100).map((r) => [r.id, r.offset])).toEqual([
      ['n0', 11],
      ['n1', 12],
    ]); // offsets are never reused
    const resumed = collector();
    await consume(group, resumed.handler, { maxBatch: 2 });
    await until(
      () => resumed.ids().length === 2,
      'the group resumes after its committed offset, past the holes',
    );
    expect(resumed.ids()).toEqual(['n0', 'n1']);
    const replay = collector();
    await consume('g-fresh', replay.handler, { from: 'earliest', maxBatch: 2 });
    await until(() => replay.ids().length === 7, 'a fresh group reads across every hole');
    expect(replay.records().map((r) => r.offset)).toEqual([1, 5, 6, 7, 8, 11, 12]);
    expect(await log.heads()).toEqual({ 0: 12 });
  });

  it("this thread's consumers get the appended values from the tail in memory; behind it or after an erasure the file answers the same records", async () => {
    const log = new SqliteEventLog(join(dir(), 'events.db'));
    logs.push(log);
    const withValue = (id: string, key = 'u1') => {
      const r = rec(id, key);
      return { ...r, value: JSON.parse(r.body) as unknown };
    };
    const first = [withValue('v0'), withValue('v1', 'gone'), withValue('v2')];
    await log.append(first);
    const live = collector();
    const c1 = await log.consume('g-tail', live.handler, { maxBatch: 2 });
    await until(() => live.ids().length === 3, 'three from the tail');
    // The very objects intake parsed: no second parse.
    for (let i = 0; i < 3; i++) expect(live.records()[i]!.value).toBe(first[i]!.value);
    await until(() => log.tailSize === 0, 'the tail lets go of what every consumer read');
    await c1.close();
    // More than the tail keeps while nobody reads: the oldest leave it (they stay in the file).
    const many = Array.from({ length: 25_000 }, (_, i) => withValue(`m${i}`, i % 1000 === 7 ? 'gone' : 'u1'));
    for (let i = 0; i < many.length; i += 1000) await log.append(many.slice(i, i + 1000));
    expect(log.tailSize).toBe(20_000);
    // The group resumes behind the tail: the file first, then the tail, each record once, in order.
    const resumed = collector();
    consumers.push(await log.consume('g-tail', resumed.handler, { maxBatch: 700 }));
    await until(() => resumed.ids().length === 25_000, 'the 25,000 across the file and the tail');
    expect(resumed.ids()).toEqual(many.map((r) => r.id));
    const values = resumed.records().map((r) => r.value);
    // The file's batch that reaches the tail may run past its start (the file holds those too).
    const switched = values.findIndex((v) => v !== undefined);
    expect(switched).toBeGreaterThanOrEqual(5000);
    expect(switched).toBeLessThan(5700);
    for (let i = switched; i < 25_000; i++) expect(values[i]).toBe(many[i]!.value);
    await until(() => log.tailSize === 0, 'read, so let go');
    // Records in the tail when their key is erased: gone from the tail too.
    await log.append([withValue('w0'), withValue('w1', 'gone'), withValue('w2')]);
    await log.eraseKey('gone');
    expect(log.tailSize).toBe(0);
    const fresh = collector();
    consumers.push(await log.consume('g-fresh', fresh.handler, { from: 'earliest', maxBatch: 700 }));
    const kept = ['v0', 'v2', ...many.filter((r) => r.key !== 'gone').map((r) => r.id), 'w0', 'w2'];
    await until(
      () => fresh.ids().length === kept.length,
      'a fresh group reads the file without the erased key',
    );
    expect(fresh.ids()).toEqual(kept);
  });

  it('group commit: overlapping appends share WAL syncs, each resolves durable, every record reaches consumers once in offset order', async () => {
    const log = new SqliteEventLog(join(dir(), 'events.db'));
    logs.push(log);
    // Committed (the call runs up to its sync) but not on disk yet: nobody may read it.
    const pending = log.append([rec('first')]);
    expect(log.readSync(0, 10)).toEqual([]);
    expect(await log.heads()).toEqual({});
    await pending;
    expect(log.readSync(0, 10).map((r) => r.id)).toEqual(['first']);
    expect(log.syncs).toBe(1);
    // 40 appends started in one turn: the first commits and starts a sync; the 39 others
    // commit while it runs and share the next one.
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, b) =>
        log.append(Array.from({ length: 5 }, (_, i) => rec(`g${b}-${i}`, `k${i}`))),
      ),
    );
    expect(log.syncs).toBe(3);
    const offsets = results.flat().map((r) => r.offset);
    expect(offsets).toEqual(Array.from({ length: 200 }, (_, i) => i + 2));
    expect(await log.heads()).toEqual({ 0: 201 });
    const got = collector();
    consumers.push(await log.consume('g-group', got.handler, { maxBatch: 64 }));
    await until(() => got.ids().length === 201, 'all 201');
    expect(got.records().map((r) => r.offset)).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
    // A repeat of an id committed in that group is a duplicate.
    expect(await log.append([rec('g7-3')])).toEqual([{ partition: 0, offset: -1, duplicate: true }]);
  });

  it('offsets from 1 without holes; retention by time and by count never reuses offsets', async () => {
    const log = new SqliteEventLog(join(dir(), 'events.db'));
    logs.push(log);
    await log.append([rec('a', 'u', 1), rec('b', 'u', 2), rec('c', 'u', 3), rec('d', 'u', 4)]);
    expect(log.readSync(0, 10).map((r) => r.offset)).toEqual([1, 2, 3, 4]);
    expect(log.prune({ beforeTs: 2 })).toBe(1);
    expect(log.prune({ keep: 2 })).toBe(1);
    expect(log.readSync(0, 10).map((r) => r.id)).toEqual(['c', 'd']);
    expect(await log.append([rec('e')])).toEqual([{ partition: 0, offset: 5, duplicate: false }]);
    expect(await log.heads()).toEqual({ 0: 5 });
  });

  it('retention runs on its own timer with the configured bounds', async () => {
    let now = 10_000;
    const log = new SqliteEventLog(join(dir(), 'events.db'), {
      retentionMs: 5000,
      retentionRecords: 3,
      retentionIntervalMs: 20,
      now: () => now,
    });
    logs.push(log);
    await log.start();
    await log.append([
      rec('old', 'u', 1000),
      ...Array.from({ length: 5 }, (_, i) => rec(`n${i}`, 'u', 9000)),
    ]);
    now = 10_001;
    await until(() => log.readSync(0, 100).length === 3, 'pruned to the newest 3');
    expect(log.readSync(0, 100).map((r) => r.id)).toEqual(['n2', 'n3', 'n4']);
  });

  it('a consumer closed while its loop lets the event loop turn finishes closing in an otherwise idle process', async () => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, '../helpers/log-close.ts'), join(dir(), 'events.db')],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    expect({ out: out.trim(), code }).toEqual({ out: 'CLOSED', code: 0 });
  });

  it(
    'every append acknowledged before kill -9 is in the log after reopening',
    { timeout: 60_000 },
    async () => {
      const path = join(dir(), 'events.db');
      const child = spawn(process.execPath, [join(import.meta.dirname, '../helpers/log-writer.ts'), path], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const acked: string[] = [];
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) if (l.startsWith('ACK ')) acked.push(l.slice(4));
      });
      await until(() => acked.length >= 2000, 'child acknowledged 2000 events');
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const log = new SqliteEventLog(path);
      logs.push(log);
      const all = log.readSync(0, 1_000_000);
      const stored = new Set(all.map((r) => r.id));
      const missing = acked.filter((id) => !stored.has(id));
      expect({ acked: acked.length >= 2000, missing: missing.length }).toEqual({ acked: true, missing: 0 });
      expect(all.every((r, i) => r.offset === i + 1)).toBe(true); // no holes
    },
  );
});

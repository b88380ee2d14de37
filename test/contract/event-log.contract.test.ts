/** The EventLog contract (src/streaming/log/port.ts) for every engine, and crash safety of the embedded one. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteEventLog, type EventLog } from '../../src/streaming/index.ts';
import { until } from '../helpers/wait.ts';

const dirs: string[] = [];
const logs: EventLog[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'bb-log-'));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  await Promise.all(logs.splice(0).map((l) => l.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Add an engine (Kafka) as one more factory; the suite does not change. */
const factories: Array<{ name: string; open(path: string): EventLog }> = [{ name: 'sqlite', open: (path) => new SqliteEventLog(join(path, 'events.db')) }];
const rec = (id: string, ts = 1000, key = 'u1') => ({ id, key, ts, body: JSON.stringify({ id }) });

describe.each(factories)('EventLog contract: $name', (f) => {
  const open = (path = dir()) => {
    const l = f.open(path);
    logs.push(l);
    return l;
  };

  it('appends in order with offsets from 1, reads them back', async () => {
    const log = open();
    expect(await log.append([rec('a'), rec('b')])).toEqual([
      { offset: 1, duplicate: false },
      { offset: 2, duplicate: false },
    ]);
    expect(await log.append([rec('c')])).toEqual([{ offset: 3, duplicate: false }]);
    expect((await log.read(0, 10)).map((r) => [r.offset, r.id])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ]);
    expect((await log.read(1, 1)).map((r) => r.id)).toEqual(['b']);
    expect(await log.head()).toBe(3);
  });

  it('drops duplicates by id, reporting the original offset', async () => {
    const log = open();
    await log.append([rec('a'), rec('b')]);
    expect(await log.append([rec('b'), rec('c'), rec('c')])).toEqual([
      { offset: 2, duplicate: true },
      { offset: 3, duplicate: false },
      { offset: 3, duplicate: true },
    ]);
    expect(await log.head()).toBe(3);
  });

  it('keeps consumer offsets per group, monotonic, across reopen', async () => {
    const path = dir();
    const log = open(path);
    await log.append([rec('a'), rec('b'), rec('c')]);
    await log.commit('recs', 2);
    await log.commit('recs', 1); // never goes back
    await log.commit('stats', 3);
    expect([await log.committed('recs'), await log.committed('stats'), await log.committed('none')]).toEqual([2, 3, 0]);
    await log.close();
    const again = open(path);
    expect(await again.committed('recs')).toBe(2);
    expect((await again.read(await again.committed('recs'), 10)).map((r) => r.id)).toEqual(['c']);
  });

  it('retention by time and by count; offsets are never reused', async () => {
    const log = open();
    await log.append([rec('a', 1), rec('b', 2), rec('c', 3), rec('d', 4)]);
    expect(await log.prune({ beforeTs: 2 })).toBe(1);
    expect(await log.prune({ keep: 2 })).toBe(1);
    expect((await log.read(0, 10)).map((r) => r.id)).toEqual(['c', 'd']);
    expect(await log.append([rec('e')])).toEqual([{ offset: 5, duplicate: false }]);
  });
});

describe('embedded log crash safety', () => {
  it('every append acknowledged before kill -9 is in the log after reopening', { timeout: 60_000 }, async () => {
    const path = join(dir(), 'events.db');
    const child = spawn(process.execPath, [join(import.meta.dirname, '../helpers/log-writer.ts'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
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
    const stored = new Set((await log.read(0, 1_000_000)).map((r) => r.id));
    const missing = acked.filter((id) => !stored.has(id));
    expect({ acked: acked.length >= 2000, missing: missing.length }).toEqual({ acked: true, missing: 0 });
    const offsets = (await log.read(0, 1_000_000)).map((r) => r.offset);
    expect(offsets.every((o, i) => o === i + 1)).toBe(true); // no holes
  });
});

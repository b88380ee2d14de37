/**
 * Columnar handler snapshots: the building blocks round-trip and refuse bad input; the
 * plays handler and the send-time model restore exactly what they snapshot (through
 * v8.serialize, as the snapshot file does) and refuse malformed columns without changing.
 */
import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { InvalidSendTimeSnapshotError, SendTimeModel } from '../../push/sendtime/index.ts';
import type { StreamEvent } from '../events/index.ts';
import { PlaysHandler } from '../handlers/plays.ts';
import { InvalidHandlerSnapshotError } from './check.ts';
import { packColumn, packStrings, unpackColumn, unpackStrings } from './columns.ts';

const T0 = Date.UTC(2026, 0, 1);
let n = 0;
const ev = (type: string, userId: string, trackId: string, ts: number, playedMs = 95_000): StreamEvent => ({
  id: `e${n++}`,
  type,
  v: 1,
  userId,
  ts,
  receivedAt: ts,
  data: { trackId, artistId: `a-${trackId}`, durationMs: 100_000, playedMs, positionMs: 1000 },
  trace: {},
});
const ctx = { replay: true, owner: true, partition: 0, offset: 0 };
const viaV8 = <T>(v: T): T => deserialize(serialize(v)) as T;

describe('columns', () => {
  it('packs strings of any characters, empty ones included', () => {
    const strings = ['', 'a', 'é€😀', 'x\ny', ''];
    expect(unpackStrings(viaV8(packStrings(strings)), 'p')).toEqual(strings);
    expect(unpackStrings(packStrings([]), 'p')).toEqual([]);
  });

  it.each([
    [null],
    [{ text: 'abc', lengths: [1, 2] }],
    [{ text: 'abc', lengths: new Uint32Array([1, 3]) }],
    [{ text: 'abc', lengths: new Uint32Array([1]) }],
    [{ text: 3, lengths: new Uint32Array([]) }],
  ])('refuses bad packed strings %j', (bad) => {
    expect(() => unpackStrings(bad, 'p')).toThrow(InvalidHandlerSnapshotError);
  });

  it('packs optional strings through a dictionary', () => {
    const values = [undefined, 'a', 'b', 'a', undefined, ''];
    const col = packColumn(values);
    expect(col.dictionary.lengths.length).toBe(3);
    expect(unpackColumn(viaV8(col), 'c', values.length)).toEqual(values);
    expect(() => unpackColumn(col, 'c', values.length + 1)).toThrow(InvalidHandlerSnapshotError);
    expect(() =>
      unpackColumn({ ...col, index: new Uint32Array([9, 0, 0, 0, 0, 0]) }, 'c', values.length),
    ).toThrow(InvalidHandlerSnapshotError);
  });
});

describe('plays snapshot', () => {
  const filled = () => {
    const h = new PlaysHandler({ historySize: 3, sessionGapMs: 60_000 });
    for (let i = 0; i < 20; i++) {
      const u = `u${i % 4}`;
      const type = i % 7 === 6 ? 'track.liked' : i % 5 === 4 ? 'track.skipped' : 'track.played';
      h.handle(ev(type, u, `t${i % 6}`, T0 + i * 20_000, (i * 13_000) % 100_000), ctx);
    }
    return h;
  };
  const state = (h: PlaysHandler) => ({
    users: ['u0', 'u1', 'u2', 'u3', 'nobody'].map((u) => h.user(u)),
    tracks: ['t0', 't1', 't5', 'a-t0'].map((t) => [h.track(t), h.artist(t), h.artist(`a-${t}`)]),
    sizes: h.sizes,
  });

  it('restores exactly what it snapshot, LRU order included', () => {
    const a = filled();
    const b = new PlaysHandler({ historySize: 3, sessionGapMs: 60_000, maxEntities: 3 });
    b.restore(viaV8(a.snapshot()));
    const c = new PlaysHandler({ historySize: 3, sessionGapMs: 60_000 });
    c.restore(viaV8(a.snapshot()));
    expect(state(c)).toEqual(state(a));
    // Bound 3: the 3 most recently active users survive, as they would in `a`.
    expect(b.sizes.users).toBe(3);
    expect(b.user('u3')).toEqual(a.user('u3'));
    expect(b.user('u0')).toBeUndefined();
    expect(viaV8(c.snapshot())).toEqual(viaV8(a.snapshot()));
  });

  it("builds a restored user's history on first read: a snapshot copies the rows of users never read, learning goes on identically", () => {
    const a = filled();
    const b = new PlaysHandler({ historySize: 3, sessionGapMs: 60_000 });
    b.restore(viaV8(a.snapshot()));
    expect(viaV8(b.snapshot())).toEqual(viaV8(a.snapshot())); // no user read yet
    const c = new PlaysHandler({ historySize: 3, sessionGapMs: 60_000 });
    c.restore(viaV8(b.snapshot())); // a restore of a restore never read
    // Read like the HTTP view and the GDPR export do (spread, structuredClone): the history is there.
    expect(structuredClone(c.user('u1'))).toEqual(structuredClone(a.user('u1')));
    expect({ ...c.user('u2') }.history).toEqual(a.user('u2')!.history);
    for (const h of [a, b, c])
      for (let i = 20; i < 30; i++)
        h.handle(ev('track.played', `u${i % 5}`, `t${i % 6}`, T0 + i * 20_000), ctx);
    expect(state(b)).toEqual(state(a));
    expect(state(c)).toEqual(state(a));
    expect(viaV8(c.snapshot())).toEqual(viaV8(a.snapshot()));
  });

  it('forgets a restored user never read: gone from the state and the next snapshot, its rows zeroed', () => {
    const a = filled();
    const snap = viaV8(a.snapshot());
    const b = new PlaysHandler({ historySize: 3, sessionGapMs: 60_000 });
    b.restore(snap);
    a.forget('u2');
    b.forget('u2');
    expect(b.user('u2')).toBeUndefined();
    expect(viaV8(b.snapshot())).toEqual(viaV8(a.snapshot()));
    // The restored columns no longer hold u2's plays: only the other users' rows are non-zero.
    const users = (snap as unknown as { users: { ts: Float64Array } }).users;
    expect([...users.ts].filter((t) => t !== 0)).toHaveLength(
      (['u0', 'u1', 'u3'] as const).reduce((n, u) => n + a.user(u)!.history.length, 0),
    );
  });

  it('refuses malformed columns and keeps its state', () => {
    const a = filled();
    const good = a.snapshot() as unknown as { users: Record<string, unknown> } & Record<string, unknown>;
    const before = state(a);
    const with_ = (k: string, v: unknown) => ({ ...good, users: { ...good.users, [k]: v } });
    const bads: unknown[] = [
      null,
      { ...good, version: 1 },
      with_('track', new Uint32Array((good.users['track'] as Uint32Array).length).fill(999)),
      with_('outcome', new Uint8Array((good.users['outcome'] as Uint8Array).length).fill(7)),
      with_('ts', new Float64Array((good.users['ts'] as Float64Array).length).fill(NaN)),
      with_('historyLength', new Uint32Array((good.users['historyLength'] as Uint32Array).length).fill(4)),
      with_('values', new Float64Array(3)),
      with_('ids', { text: 'x', lengths: new Uint32Array([1]) }),
      { ...good, tracks: { ids: packStrings(['t']), values: new Float64Array(7) } },
    ];
    for (const bad of bads) {
      expect(() => a.restore(bad)).toThrow(InvalidHandlerSnapshotError);
      expect(state(a)).toEqual(before);
    }
  });
});

describe('send-time columns', () => {
  it('restore what they snapshot and refuse bad columns without a change', () => {
    const m = new SendTimeModel();
    for (let i = 0; i < 30; i++) m.observe(`u${i % 5}`, T0 + i * 3_600_000, 'app.opened', 'Europe/Paris');
    const r = new SendTimeModel();
    r.restoreColumns(viaV8(m.snapshotColumns()));
    expect(r.snapshot()).toEqual(m.snapshot());
    const good = m.snapshotColumns();
    const before = m.snapshot();
    for (const bad of [
      null,
      { ...good, version: 1 },
      { ...good, hours: new Float64Array(good.hours.length).fill(-1) },
      { ...good, last: new Float64Array(2) },
      { ...good, idText: 'u0u0u0u0u0', idLengths: new Uint32Array([2, 2, 2, 2, 2]) },
      { ...good, idText: good.idText + 'x' },
    ]) {
      expect(() => m.restoreColumns(bad)).toThrow(InvalidSendTimeSnapshotError);
      expect(m.snapshot()).toEqual(before);
    }
  });
});

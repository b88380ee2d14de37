/**
 * The DeadLetterStore contract (src/streaming/dlq/store.ts) on every engine: SQLite
 * (embedded), PostgreSQL (DATABASE_URL) and Redis (REDIS_URL). Engines shared by nodes
 * are also opened twice, standing for two nodes: what one writes the other lists, and two
 * replays at once take disjoint letters.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeadLetter, DeadLetterStore, DeadLetterStoreOptions } from '../../src/streaming/dlq/store.ts';
import { dlqFactories, type Space } from './streaming-stores.ts';

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function letter(
  eventId: string,
  handler = 'plays',
  o: {
    userId?: string;
    at?: number;
    attempts?: number;
    message?: string;
    data?: Record<string, unknown>;
  } = {},
): DeadLetter {
  const at = o.at ?? 1_700_000_000_000;
  return {
    id: `${eventId}/${handler}`,
    eventId,
    handler,
    event: {
      id: eventId,
      type: 'track.played',
      v: 1,
      userId: o.userId ?? 'u1',
      ts: at,
      receivedAt: at,
      data: o.data ?? { trackId: 't1' },
      trace: {},
    },
    error: { code: 'bad_request', message: o.message ?? 'refused', retriable: false },
    attempts: o.attempts ?? 1,
    firstFailedAt: at,
    lastFailedAt: at,
    partition: 0,
    offset: 7,
  };
}

describe.each(dlqFactories)('DeadLetterStore contract: $name', (factory) => {
  const spaces: Array<Space<DeadLetterStore, DeadLetterStoreOptions>> = [];
  afterEach(async () => {
    await Promise.all(spaces.splice(0).map((s) => s.dispose()));
  });
  const space = async () => {
    const s = await factory.space();
    spaces.push(s);
    return s;
  };
  const open = async (opts: DeadLetterStoreOptions = {}) => (await space()).open(opts);
  /** Two nodes on one store (the same instance for an engine one process owns). */
  const nodes = async (opts: DeadLetterStoreOptions = {}) => {
    const s = await space();
    const a = await s.open(opts);
    return [a, factory.sharedByNodes ? await s.open(opts) : a] as const;
  };

  it('put, get, list and count: the letter comes back as put, with its event intact', async () => {
    const s = await open();
    const data = {
      trackId: 't1',
      precise: 0.1 + 0.2,
      big: Number.MAX_SAFE_INTEGER,
      empty: [],
      obj: {},
      text: 'é"\\\u0000',
    };
    const dl = letter('e1', 'plays', { data });
    await s.put(dl);
    expect(await s.get([dl.id, 'missing/plays'])).toEqual([dl]);
    expect(await s.list({ limit: 10 })).toEqual([dl]);
    expect(await s.count()).toBe(1);
  });

  it('a second failure of the same (event, handler) upserts: attempts add up, the first failure time stays', async () => {
    const s = await open();
    await s.put(letter('e1', 'plays', { at: 1000, attempts: 4 }));
    await s.put(letter('e1', 'plays', { at: 5000, attempts: 1, message: 'again' }));
    const [got] = await s.get(['e1/plays']);
    expect(got).toMatchObject({
      attempts: 5,
      firstFailedAt: 1000,
      lastFailedAt: 5000,
      error: { message: 'again' },
    });
    expect(await s.count()).toBe(1);
  });

  it('remove counts what it removed; removing again or an unknown id changes nothing', async () => {
    const s = await open();
    await s.put(letter('a'));
    await s.put(letter('b'));
    expect(await s.remove(['a/plays', 'zz/plays'])).toBe(1);
    expect(await s.remove(['a/plays'])).toBe(0);
    expect(await s.remove([])).toBe(0);
    expect((await s.list({ limit: 10 })).map((d) => d.id)).toEqual(['b/plays']);
    expect(await s.count()).toBe(1);
  });

  it('property: paging with the `after` cursor lists every letter once, in id order, with or without a handler filter', async () => {
    const s = await open();
    const idChar = fc.constantFrom(...'AZaz09_.:@-'.split(''));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.record({
            eventId: fc.string({ unit: idChar, minLength: 1, maxLength: 12 }),
            handler: fc.constantFrom('plays', 'play', 'plays2', 'Trending', 'refuser'),
          }),
          { minLength: 0, maxLength: 25, selector: (x) => `${x.eventId}/${x.handler}` },
        ),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom(undefined, 'plays', 'play', 'refuser'),
        async (letters, page, handler) => {
          await s.remove((await s.list({ limit: 10_000 })).map((d) => d.id));
          for (const l of letters) await s.put(letter(l.eventId, l.handler));
          const want = letters
            .filter((l) => handler === undefined || l.handler === handler)
            .map((l) => `${l.eventId}/${l.handler}`)
            .sort(cmp);
          const got: string[] = [];
          let after: string | undefined;
          for (;;) {
            const items = await s.list({
              limit: page,
              ...(after ? { after } : {}),
              ...(handler ? { handler } : {}),
            });
            got.push(...items.map((d) => d.id));
            if (items.length < page) break;
            after = items.at(-1)!.id;
          }
          expect(got).toEqual(want);
          expect(await s.count()).toBe(letters.length);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("forUser and eraseUser: exactly the user's letters (not those of a user whose id extends it); erasure is idempotent", async () => {
    const s = await open();
    await s.put(letter('e1', 'plays', { userId: 'ann' }));
    await s.put(letter('e2', 'trending', { userId: 'ann' }));
    await s.put(letter('e3', 'plays', { userId: 'anna' }));
    await s.put(letter('e4', 'plays', { userId: 'an' }));
    expect((await s.forUser('ann')).map((d) => d.id)).toEqual(['e1/plays', 'e2/trending']);
    expect(await s.eraseUser('ann')).toBe(2);
    expect(await s.eraseUser('ann')).toBe(0);
    expect(await s.forUser('ann')).toEqual([]);
    expect((await s.list({ limit: 10 })).map((d) => d.event.userId).sort()).toEqual(['an', 'anna']);
    expect(await s.count()).toBe(2);
  });

  it('take leases letters: a second take skips them until the lease ends (remove, put, release or expiry)', async () => {
    let now = 1_000_000;
    const s = await open({ now: () => now });
    for (const id of ['a', 'b', 'c', 'd']) await s.put(letter(id));
    const first = await s.take({ limit: 2, leaseMs: 1000 });
    expect(first.map((d) => d.id)).toEqual(['a/plays', 'b/plays']);
    expect((await s.take({ limit: 10, leaseMs: 1000 })).map((d) => d.id)).toEqual(['c/plays', 'd/plays']);
    expect(await s.take({ limit: 10, leaseMs: 1000 })).toEqual([]);
    // Leased letters are still listed and counted: they are in the queue until replayed.
    expect(await s.count()).toBe(4);
    expect(await s.remove(['a/plays'])).toBe(1); // replayed
    await s.put(letter('b', 'plays', { message: 'failed again' })); // failed again: lease ends
    await s.release(['c/plays']);
    expect((await s.take({ limit: 10, leaseMs: 1000 })).map((d) => d.id)).toEqual(['b/plays', 'c/plays']);
    now += 1000; // d's lease (and the new ones) ran out: takeable again, never lost
    expect((await s.take({ limit: 10, leaseMs: 1000 })).map((d) => d.id)).toEqual([
      'b/plays',
      'c/plays',
      'd/plays',
    ]);
  });

  it('take by ids returns only those that exist and are not leased', async () => {
    const s = await open();
    for (const id of ['a', 'b', 'c']) await s.put(letter(id));
    expect((await s.take({ ids: ['b/plays'], limit: 10, leaseMs: 60_000 })).map((d) => d.id)).toEqual([
      'b/plays',
    ]);
    const again = await s.take({
      ids: ['b/plays', 'c/plays', 'x/plays', 'c/plays'],
      limit: 10,
      leaseMs: 60_000,
    });
    expect(again.map((d) => d.id)).toEqual(['c/plays']);
    expect(await s.take({ ids: [], limit: 10, leaseMs: 60_000 })).toEqual([]);
  });

  it('two nodes: a letter put on one is listed by the other; replays at once take disjoint letters', async () => {
    const [a, b] = await nodes();
    for (let i = 0; i < 40; i++) await a.put(letter(`e${String(i).padStart(2, '0')}`));
    expect(await b.count()).toBe(40);
    expect((await b.list({ limit: 1 }))[0]!.id).toBe('e00/plays');
    const takes = await Promise.all([
      a.take({ limit: 40, leaseMs: 60_000 }),
      b.take({ limit: 40, leaseMs: 60_000 }),
      a.take({ limit: 15, leaseMs: 60_000 }),
      b.take({ ids: ['e05/plays', 'e06/plays', 'e39/plays'], limit: 40, leaseMs: 60_000 }),
    ]);
    const all = takes.flat().map((d) => d.id);
    expect(new Set(all).size).toBe(all.length); // no letter taken twice
    expect(all.sort(cmp)).toEqual(
      Array.from({ length: 40 }, (_, i) => `e${String(i).padStart(2, '0')}/plays`),
    );
  });

  it('bounded: over maxLetters the oldest (by first failure) are dropped and counted', async () => {
    let dropped = 0;
    const s = await open({ maxLetters: 5, onDropped: (n) => (dropped += n) });
    // Ids in the opposite order of failure time: the cap goes by time, not by id.
    for (let i = 0; i < 8; i++) await s.put(letter(`z${9 - i}`, 'plays', { at: 1000 + i }));
    expect(await s.count()).toBe(5);
    expect(dropped).toBe(3);
    expect((await s.list({ limit: 10 })).map((d) => d.id)).toEqual([
      'z2/plays',
      'z3/plays',
      'z4/plays',
      'z5/plays',
      'z6/plays',
    ]);
    // An upsert of a kept letter is no new letter: nothing dropped.
    await s.put(letter('z6', 'plays', { at: 2000 }));
    expect(dropped).toBe(3);
  });
});

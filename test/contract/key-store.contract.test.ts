/**
 * The Kafka log's crypto-shredding key store (src/streaming/crypto) on both engines: a
 * SQLite file (embedded-store mode) and PostgreSQL (DATABASE_URL, a fresh schema of
 * TEST_DATABASE_URL), with two ciphers standing for two nodes sharing the store.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/observability/index.ts';
import { PostgresDriver, SqliteDriver } from '../../src/core/store/index.ts';
import { SqlKeyStore, UserKeyCipher, type LogRecord, type StoredRecord } from '../../src/streaming/index.ts';
import { databaseUrl } from './stores.ts';

const logger = createLogger('silent');
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const engines: Array<{ name: string; open: () => Promise<() => SqlKeyStore> }> = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'bb-keys-'));
      cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
      // One node per SQLite file (its single writer): the two ciphers share one store.
      const driver = new SqliteDriver(join(dir, 'keys.db'));
      const store = new SqlKeyStore(driver, { afterDestroy: () => driver.checkpoint() });
      return () => store;
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const url = databaseUrl();
      const schema = `bbk_${randomBytes(6).toString('hex')}`;
      cleanup.push(async () => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      });
      return () => new SqlKeyStore(new PostgresDriver({ url, schema, logger, poolSize: 2 }));
    },
  },
];

const rec = (
  id: string,
  key: string,
  body = JSON.stringify({ id, userId: key, data: { secret: `payload-of-${key}` } }),
): LogRecord => ({ id, key, ts: 1, body });
const stored = (r: LogRecord, offset: number): StoredRecord => ({ ...r, partition: 0, offset });

describe.each(engines)('key store and record cipher: $name', (engine) => {
  it('two nodes share keys; a destroyed user is shredded for both; others still decrypt', async () => {
    const make = await engine.open();
    const skipped: string[] = [];
    const [a, b] = [make(), make()].map(
      (keys) => new UserKeyCipher({ keys, logger, onSkipped: (reason, n) => skipped.push(`${reason}:${n}`) }),
    );
    cleanup.push(async () => void (await Promise.all([a!.close(), b!.close()])));
    await Promise.all([a!.start(), b!.start()]); // concurrent table creation is safe
    // Both nodes ask for a new user's key at once: one key wins, both use it.
    const [sa, sb] = await Promise.all([
      a!.seal([rec('e1', 'u1'), rec('e2', 'u2')]),
      b!.seal([rec('e3', 'u1')]),
    ]);
    const sealed = [...sa, ...sb];
    for (const r of sealed) expect(r.body).toMatch(/^bbe1\.[A-Za-z0-9_-]{22}\./);
    expect(sealed.map((r) => r.body).join()).not.toContain('payload-of');
    expect(new Set([sa[0]!, sb[0]!].map((r) => r.body.split('.')[1])).size).toBe(1);
    const opened = await b!.open(sealed.map(stored));
    expect(opened.map((r) => JSON.parse(r.body).data.secret)).toEqual([
      'payload-of-u1',
      'payload-of-u2',
      'payload-of-u1',
    ]);
    // A body moved onto another record (another user, another id) does not decrypt.
    const moved = await b!.open([{ ...stored(sealed[1]!, 9), key: 'u1' }]);
    expect(moved[0]!.body).toBe(sealed[1]!.body);

    expect(await a!.destroy('u1')).toBe(1);
    expect(await a!.destroy('u1')).toBe(0);
    b!.forget('u1'); // what the erasure marker does on the other node
    const after = await b!.open(sealed.map(stored));
    expect(after.map((r) => [r.key, r.shredded ?? false, r.body === ''])).toEqual([
      ['u1', true, true],
      ['u2', false, false],
      ['u1', true, true],
    ]);
    expect(skipped).toContain('shredded:2');
    // The user may come back: a new key, old records stay unreadable.
    const fresh = await a!.seal([rec('e4', 'u1')]);
    expect(fresh[0]!.body.split('.')[1]).not.toBe(sealed[0]!.body.split('.')[1]);
    const mixed = await b!.open([stored(sealed[0]!, 1), stored(fresh[0]!, 4)]);
    expect(mixed.map((r) => r.shredded ?? false)).toEqual([true, false]);
    // A key this store never had (a node with its own key store) is skipped too, and said so.
    const foreign = `bbe1.${randomBytes(16).toString('base64url')}.AAAA`;
    expect((await b!.open([stored(rec('e5', 'u3', foreign), 5)]))[0]).toMatchObject({
      shredded: true,
      body: '',
    });
    expect(skipped).toContain('unknown_key:1');
    // Plaintext bodies (written before encryption was on) pass through.
    expect((await b!.open([stored(rec('e6', 'u2', '{"plain":true}'), 6)]))[0]!.body).toBe('{"plain":true}');
  });
});

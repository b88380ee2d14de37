/**
 * Unit tests of the store's engine-independent pieces: placeholder rewriting, database
 * names in messages, the GDPR scrub of job requests, and the SQLite driver's lock (a
 * transaction that awaits between statements must not swallow other callers' writes).
 * The repositories themselves are covered on both engines by test/contract/store.contract.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeDatabase, scrubMessage } from './errors.ts';
import { withoutUser } from './gdpr.ts';
import { toNumberedParams } from './postgres-driver.ts';
import { SqliteDriver } from './sqlite-driver.ts';
import { chunks, likeAnywhere } from './driver.ts';

describe('toNumberedParams', () => {
  it('numbers placeholders in order, leaving quoted ones alone', () => {
    expect(toNumberedParams("SELECT ? , '?' AS q, \"a?\" FROM t WHERE x = ? AND y LIKE ? ESCAPE '\\'")).toBe(
      "SELECT $1 , '?' AS q, \"a?\" FROM t WHERE x = $2 AND y LIKE $3 ESCAPE '\\'",
    );
    expect(toNumberedParams('SELECT 1')).toBe('SELECT 1');
  });
});

describe('database names in messages', () => {
  it('masks the password and drops the query string', () => {
    expect(describeDatabase('postgres://bb:s3cret@db.internal:5432/app?sslmode=require&password=x')).toBe(
      'postgres://bb:***@db.internal:5432/app',
    );
    expect(describeDatabase('postgres://db.internal/app')).toBe('postgres://db.internal/app');
    expect(describeDatabase('not a url with s3cret')).not.toContain('s3cret');
  });

  it('removes a secret from an error message', () => {
    expect(scrubMessage(new Error('auth failed for s3cret, s3cret'), 's3cret')).toBe(
      'auth failed for ***, ***',
    );
    expect(scrubMessage('plain', undefined)).toBe('plain');
  });
});

describe('withoutUser', () => {
  it('drops the id from arrays, values and keys, at any depth, and nothing else', () => {
    const request = {
      userIds: ['u1', 'u2', 'u1'],
      variables: { u1: { name: 'x' }, owner: 'u1', n: 1 },
      title: 'u1 is here',
      list: [['u1'], 'u10'],
    };
    expect(withoutUser(request, 'u1')).toEqual({
      userIds: ['u2'],
      variables: { n: 1 },
      title: 'u1 is here',
      list: [[], 'u10'],
    });
    expect(withoutUser('u1', 'u1')).toBeNull();
    expect(withoutUser(request, 'nobody')).toEqual(request);
  });
});

describe('helpers', () => {
  it('escapes LIKE wildcards and splits chunks', () => {
    expect(likeAnywhere('"50%_a\\b"')).toBe('%"50\\%\\_a\\\\b"%');
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe('SqliteDriver', () => {
  const dirs: string[] = [];
  const drivers: SqliteDriver[] = [];
  const open = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bb-sqlite-driver-'));
    dirs.push(dir);
    const d = new SqliteDriver(join(dir, 'x.db'));
    drivers.push(d);
    await d.exec('CREATE TABLE t (v INTEGER, b INTEGER)');
    return d;
  };
  afterEach(async () => {
    await Promise.all(drivers.splice(0).map((d) => d.close()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('runs a call made during a transaction after it, so a rollback does not take it along', async () => {
    const db = await open();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const tx = db.transaction(async (t) => {
      await t.run('INSERT INTO t (v) VALUES (?)', [1]);
      await gate;
      throw new Error('abort');
    });
    const outside = db.run('INSERT INTO t (v) VALUES (?)', [2]);
    release();
    await expect(tx).rejects.toThrow('abort');
    expect(await outside).toBe(1);
    expect(await db.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 2 }]);
  });

  it('binds booleans as 1 and 0, and closes once', async () => {
    const db = await open();
    await db.run('INSERT INTO t (v, b) VALUES (?, ?), (?, ?)', [1, true, 2, false]);
    expect((await db.all('SELECT b FROM t ORDER BY v')).map((r) => r['b'])).toEqual([1, 0]);
    await Promise.all([db.close(), db.close()]);
    await expect(db.get('SELECT 1')).rejects.toThrow();
  });
});

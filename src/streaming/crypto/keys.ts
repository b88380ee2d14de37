import { randomBytes } from 'node:crypto';
import { chunksOf } from './chunks.ts';
import type { SqlDriver } from '../../core/store/index.ts';

/** One user's data key: AES-256 (32 bytes), named by a random key id. */
export interface UserKey {
  kid: string;
  key: Buffer;
}

/** What a key id resolves to: the key, destroyed (the user was erased), or unknown to this store. */
export type KeyLookup =
  { state: 'live'; key: Buffer; userId: string } | { state: 'destroyed' } | { state: 'unknown' };

export interface SqlKeyStoreOptions {
  /** Runs after a destruction (SQLite: checkpoint + truncate the WAL, so no page image keeps the user id). */
  afterDestroy?: () => Promise<void>;
  now?: () => number;
}

/**
 * The per-user data keys of the Kafka log's crypto-shredding (SPEC §7), in SQL: a SQLite
 * file under DATA_DIR (`streaming/keys.db`) in embedded-store mode, or the store's
 * PostgreSQL (DATABASE_URL) so that every node of a cluster reads the same keys.
 *
 * - `stream_keys`: one live key per user (`UNIQUE user_id`); created on the user's first
 *   event, concurrently safe (`ON CONFLICT DO NOTHING`, then read back).
 * - `stream_key_tombstones`: the ids of destroyed keys (random ids, nothing personal), so a
 *   record under a destroyed key is told apart from one under a key this store never had
 *   (a misconfiguration: several Kafka nodes without a shared DATABASE_URL).
 *
 * Destroying a user's keys deletes their rows: the user's records become unreadable for
 * good. On SQLite the driver has `secure_delete` on and `afterDestroy` checkpoints.
 */
export class SqlKeyStore {
  readonly #db: SqlDriver;
  readonly #o: SqlKeyStoreOptions;
  #started: Promise<void> | undefined;

  constructor(db: SqlDriver, opts: SqlKeyStoreOptions = {}) {
    this.#db = db;
    this.#o = opts;
  }

  get description(): string {
    return this.#db.description;
  }

  /** Creates the tables when missing (under the migration lock on PostgreSQL). Idempotent. */
  start(): Promise<void> {
    this.#started ??= this.#db.transaction(async (tx) => {
      await this.#db.prepareMigrations(tx);
      const big = this.#db.dialect.types.bigint;
      await tx.run(`CREATE TABLE IF NOT EXISTS stream_keys (
        kid TEXT PRIMARY KEY,
        user_id TEXT NOT NULL UNIQUE,
        key_material TEXT NOT NULL,
        created_at ${big} NOT NULL
      )`);
      await tx.run(
        `CREATE TABLE IF NOT EXISTS stream_key_tombstones (kid TEXT PRIMARY KEY, destroyed_at ${big} NOT NULL)`,
      );
    });
    return this.#started;
  }

  /** The live key of each user, created for users without one. */
  async forUsers(userIds: readonly string[]): Promise<Map<string, UserKey>> {
    const wanted = [...new Set(userIds)];
    const out = await this.#live(wanted);
    const missing = wanted.filter((u) => !out.has(u));
    if (missing.length) {
      const now = (this.#o.now ?? Date.now)();
      for (const chunk of chunksOf(missing, Math.floor(this.#db.dialect.maxParams / 4))) {
        const params = chunk.flatMap((u) => [
          randomBytes(16).toString('base64url'),
          u,
          randomBytes(32).toString('base64'),
          now,
        ]);
        await this.#db.run(
          `INSERT INTO stream_keys (kid, user_id, key_material, created_at) VALUES ${chunk.map(() => '(?, ?, ?, ?)').join(', ')} ON CONFLICT (user_id) DO NOTHING`,
          params,
        );
      }
      // Read back: a concurrent creator (another node) may have won for some users.
      for (const [u, k] of await this.#live(missing)) out.set(u, k);
    }
    return out;
  }

  /** What each key id is. */
  async lookup(kids: readonly string[]): Promise<Map<string, KeyLookup>> {
    const out = new Map<string, KeyLookup>();
    const wanted = [...new Set(kids)];
    for (const chunk of chunksOf(wanted, 1000)) {
      const marks = chunk.map(() => '?').join(', ');
      for (const r of await this.#db.all(
        `SELECT kid, user_id, key_material FROM stream_keys WHERE kid IN (${marks})`,
        chunk,
      )) {
        out.set(String(r['kid']), {
          state: 'live',
          key: Buffer.from(String(r['key_material']), 'base64'),
          userId: String(r['user_id']),
        });
      }
      const rest = chunk.filter((k) => !out.has(k));
      if (rest.length) {
        for (const r of await this.#db.all(
          `SELECT kid FROM stream_key_tombstones WHERE kid IN (${rest.map(() => '?').join(', ')})`,
          rest,
        )) {
          out.set(String(r['kid']), { state: 'destroyed' });
        }
      }
    }
    for (const k of wanted) if (!out.has(k)) out.set(k, { state: 'unknown' });
    return out;
  }

  /** Destroys every key of the user (idempotent); returns the destroyed key ids. */
  async destroy(userId: string): Promise<string[]> {
    const now = (this.#o.now ?? Date.now)();
    const kids = await this.#db.transaction(async (tx) => {
      const rows = await tx.all(
        `SELECT kid FROM stream_keys WHERE user_id = ?${this.#db.dialect.forUpdate}`,
        [userId],
      );
      const ids = rows.map((r) => String(r['kid']));
      for (const kid of ids)
        await tx.run(
          'INSERT INTO stream_key_tombstones (kid, destroyed_at) VALUES (?, ?) ON CONFLICT (kid) DO NOTHING',
          [kid, now],
        );
      await tx.run('DELETE FROM stream_keys WHERE user_id = ?', [userId]);
      return ids;
    });
    await this.#o.afterDestroy?.();
    return kids;
  }

  /** Whether the user has a live key (tests, export). */
  async has(userId: string): Promise<boolean> {
    return (await this.#live([userId])).has(userId);
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  async #live(userIds: readonly string[]): Promise<Map<string, UserKey>> {
    const out = new Map<string, UserKey>();
    for (const chunk of chunksOf(userIds, 1000)) {
      const rows = await this.#db.all(
        `SELECT kid, user_id, key_material FROM stream_keys WHERE user_id IN (${chunk.map(() => '?').join(', ')})`,
        chunk,
      );
      for (const r of rows)
        out.set(String(r['user_id']), {
          kid: String(r['kid']),
          key: Buffer.from(String(r['key_material']), 'base64'),
        });
    }
    return out;
  }
}

/**
 * GDPR erasure receipts (SPEC §7). A receipt is written before anything is erased and
 * records each store's progress, so a node that dies mid-erasure resumes it at start. It
 * holds the user id only while pending: completion replaces it with a salted hash.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../time/index.ts';
import { col, type Row, type SqlDriver } from './driver.ts';
import type { ErasureRepository } from './port.ts';
import type { ErasureReceipt, ErasureState } from './types.ts';

const COLUMNS = 'id, user_id, user_hash, status, stores, created_at, updated_at, completed_at';

function toReceipt(r: Row): ErasureReceipt {
  return {
    id: col.str(r['id']),
    userId: col.strOrNull(r['user_id']),
    userHash: col.strOrNull(r['user_hash']),
    status: col.str(r['status']) as ErasureState,
    stores: col.json<Record<string, ErasureState>>(r['stores']),
    createdAt: col.num(r['created_at']),
    updatedAt: col.num(r['updated_at']),
    completedAt: col.numOrNull(r['completed_at']),
  };
}

function digest(salt: string, userId: string): string {
  return createHash('sha256').update(salt).update('\u0000').update(userId, 'utf8').digest('hex');
}

/** `sha256$<salt>$<hex>` with a fresh random salt. */
function saltedHash(userId: string): string {
  const salt = randomBytes(16).toString('base64url');
  return `sha256$${salt}$${digest(salt, userId)}`;
}

/** Whether a done receipt's `userHash` is the hash of `userId` (to answer "was this user erased by that receipt?"). */
export function erasureHashMatches(userHash: string, userId: string): boolean {
  const [alg, salt, hex] = userHash.split('$');
  if (alg !== 'sha256' || !salt || !hex) return false;
  const a = Buffer.from(hex, 'hex');
  const b = Buffer.from(digest(salt, userId), 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

export class SqlErasureRepository implements ErasureRepository {
  readonly #db: SqlDriver;
  readonly #clock: Clock;
  readonly #afterComplete: (() => Promise<void>) | undefined;

  constructor(db: SqlDriver, clock: Clock, afterComplete?: () => Promise<void>) {
    this.#db = db;
    this.#clock = clock;
    this.#afterComplete = afterComplete;
  }

  async begin(
    userId: string,
    stores: readonly string[],
  ): Promise<{ receipt: ErasureReceipt; created: boolean }> {
    const now = this.#clock.now();
    const state = Object.fromEntries(stores.map((s) => [s, 'pending' as const]));
    const inserted = await this.#db.get(
      `INSERT INTO erasures (id, user_id, user_hash, status, stores, created_at, updated_at, completed_at) VALUES (?, ?, NULL, 'pending', ?, ?, ?, NULL)
        ON CONFLICT (user_id) DO NOTHING RETURNING ${COLUMNS}`,
      [randomUUID(), userId, JSON.stringify(state), now, now],
    );
    if (inserted) return { receipt: toReceipt(inserted), created: true };
    const existing = await this.#db.get(`SELECT ${COLUMNS} FROM erasures WHERE user_id = ?`, [userId]);
    if (!existing) throw new Error('erasure receipt: the pending receipt that conflicted has gone; retry');
    return { receipt: toReceipt(existing), created: false };
  }

  async get(id: string): Promise<ErasureReceipt | null> {
    const row = await this.#db.get(`SELECT ${COLUMNS} FROM erasures WHERE id = ?`, [id]);
    return row ? toReceipt(row) : null;
  }

  async listPending(limit = 1000): Promise<ErasureReceipt[]> {
    const rows = await this.#db.all(
      `SELECT ${COLUMNS} FROM erasures WHERE status = 'pending' ORDER BY created_at, id LIMIT ?`,
      [limit],
    );
    return rows.map(toReceipt);
  }

  async markStore(id: string, store: string, state: ErasureState): Promise<ErasureReceipt | null> {
    return this.#db.transaction(async (tx) => {
      const row = await tx.get(`SELECT ${COLUMNS} FROM erasures WHERE id = ?${this.#db.dialect.forUpdate}`, [
        id,
      ]);
      if (!row) return null;
      const r = toReceipt(row);
      if (r.stores[store] === state) return r;
      r.stores = { ...r.stores, [store]: state };
      r.updatedAt = this.#clock.now();
      await tx.run('UPDATE erasures SET stores = ?, updated_at = ? WHERE id = ?', [
        JSON.stringify(r.stores),
        r.updatedAt,
        id,
      ]);
      return r;
    });
  }

  async complete(id: string): Promise<ErasureReceipt | null> {
    const done = await this.#db.transaction(async (tx) => {
      const row = await tx.get(`SELECT ${COLUMNS} FROM erasures WHERE id = ?${this.#db.dialect.forUpdate}`, [
        id,
      ]);
      if (!row) return null;
      const r = toReceipt(row);
      if (r.status === 'done') return { r, changed: false };
      const now = this.#clock.now();
      const stores = Object.fromEntries(Object.keys(r.stores).map((s) => [s, 'done' as const]));
      const userHash = r.userId === null ? null : saltedHash(r.userId);
      await tx.run(
        "UPDATE erasures SET status = 'done', user_id = NULL, user_hash = ?, stores = ?, updated_at = ?, completed_at = ? WHERE id = ?",
        [userHash, JSON.stringify(stores), now, now, id],
      );
      return {
        r: {
          ...r,
          status: 'done' as const,
          userId: null,
          userHash,
          stores,
          updatedAt: now,
          completedAt: now,
        },
        changed: true,
      };
    });
    if (!done) return null;
    if (done.changed) await this.#afterComplete?.();
    return done.r;
  }
}

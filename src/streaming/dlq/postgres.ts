import type { SqlDriver, SqlExecutor } from '../../core/store/index.ts';
import {
  clampLimit,
  cmp,
  DEFAULT_MAX_DEAD_LETTERS,
  MAX_TAKE,
  type DeadLetter,
  type DeadLetterStore,
  type DeadLetterStoreOptions,
} from './store.ts';

/**
 * The cluster dead-letter queue in the store's PostgreSQL (DATABASE_URL), shared by every
 * node: one table `stream_dead_letters` (created under the store's migration lock), the
 * letter as text (never re-encoded, so the event's numbers keep their precision) with the
 * columns the operations need (handler, user, attempts, first failure, replay lease).
 * - put: one `INSERT … ON CONFLICT DO UPDATE` (attempts add up, the lease ends); the cap
 *   drops the oldest by first failure in the same transaction;
 * - take: `UPDATE … WHERE id IN (SELECT … WHERE lease_until <= now FOR UPDATE SKIP LOCKED)
 *   RETURNING`: two nodes replaying at once lock and lease disjoint rows;
 * - ids compare in byte order (`COLLATE "C"`), as in SQLite and Redis, whatever the
 *   database's collation: the `after` cursor means the same on every engine.
 */
export class PostgresDeadLetterStore implements DeadLetterStore {
  readonly #db: SqlDriver;
  readonly #o: DeadLetterStoreOptions;
  readonly #max: number;
  #started: Promise<void> | undefined;

  constructor(db: SqlDriver, opts: DeadLetterStoreOptions = {}) {
    this.#db = db;
    this.#o = opts;
    this.#max = Math.max(1, opts.maxLetters ?? DEFAULT_MAX_DEAD_LETTERS);
  }

  /** Creates the table when missing; every operation waits for it (idempotent, retried after a failure). */
  #ready(): Promise<void> {
    this.#started ??= this.#db
      .transaction(async (tx) => {
        await this.#db.prepareMigrations(tx);
        await tx.run(`CREATE TABLE IF NOT EXISTS stream_dead_letters (
          id TEXT COLLATE "C" PRIMARY KEY,
          handler TEXT COLLATE "C" NOT NULL,
          user_id TEXT NOT NULL,
          attempts INTEGER NOT NULL,
          first_failed_at BIGINT NOT NULL,
          last_failed_at BIGINT NOT NULL,
          lease_until BIGINT NOT NULL DEFAULT 0,
          body TEXT NOT NULL
        )`);
        await tx.run(
          'CREATE INDEX IF NOT EXISTS stream_dead_letters_handler ON stream_dead_letters (handler, id)',
        );
        await tx.run('CREATE INDEX IF NOT EXISTS stream_dead_letters_user ON stream_dead_letters (user_id)');
        await tx.run(
          'CREATE INDEX IF NOT EXISTS stream_dead_letters_first ON stream_dead_letters (first_failed_at, id)',
        );
      })
      .catch((err: unknown) => {
        this.#started = undefined;
        throw err;
      });
    return this.#started;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  async put(dl: DeadLetter): Promise<void> {
    await this.#ready();
    const dropped = await this.#db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO stream_dead_letters (id, handler, user_id, attempts, first_failed_at, last_failed_at, body)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET attempts = stream_dead_letters.attempts + excluded.attempts,
           last_failed_at = excluded.last_failed_at, body = excluded.body, lease_until = 0`,
        [
          dl.id,
          dl.handler,
          dl.event.userId,
          dl.attempts,
          dl.firstFailedAt,
          dl.lastFailedAt,
          JSON.stringify(dl),
        ],
      );
      return this.#trim(tx);
    });
    if (dropped) this.#o.onDropped?.(dropped);
  }

  async #trim(tx: SqlExecutor): Promise<number> {
    const n = col.num((await tx.get('SELECT count(*) AS n FROM stream_dead_letters'))?.['n'] ?? 0);
    if (n <= this.#max) return 0;
    return tx.run(
      `DELETE FROM stream_dead_letters WHERE id IN
         (SELECT id FROM stream_dead_letters ORDER BY first_failed_at, id LIMIT ? FOR UPDATE SKIP LOCKED)`,
      [n - this.#max],
    );
  }

  async list(opts: { limit: number; after?: string; handler?: string }): Promise<DeadLetter[]> {
    await this.#ready();
    const rows = await this.#db.all(
      `SELECT body, attempts, first_failed_at FROM stream_dead_letters
       WHERE id > ? AND (handler = ? OR ?::text IS NULL) ORDER BY id LIMIT ?`,
      [opts.after ?? '', opts.handler ?? null, opts.handler ?? null, clampLimit(opts.limit)],
    );
    return rows.map(letter);
  }

  async get(ids: readonly string[]): Promise<DeadLetter[]> {
    if (!ids.length) return [];
    await this.#ready();
    const rows = await this.#db.all(
      `SELECT id, body, attempts, first_failed_at FROM stream_dead_letters WHERE id = ANY(?::text[])`,
      [pgArray(ids)],
    );
    const byId = new Map(rows.map((r) => [col.str(r['id']), letter(r)]));
    return ids.flatMap((id) => {
      const dl = byId.get(id);
      return dl ? [dl] : [];
    });
  }

  async remove(ids: readonly string[]): Promise<number> {
    if (!ids.length) return 0;
    await this.#ready();
    return this.#db.run('DELETE FROM stream_dead_letters WHERE id = ANY(?::text[])', [pgArray(ids)]);
  }

  async count(): Promise<number> {
    await this.#ready();
    return col.num((await this.#db.get('SELECT count(*) AS n FROM stream_dead_letters'))?.['n'] ?? 0);
  }

  async take(opts: { ids?: readonly string[]; limit: number; leaseMs: number }): Promise<DeadLetter[]> {
    await this.#ready();
    const now = this.#now();
    const limit = Math.min(clampLimit(opts.limit), MAX_TAKE);
    const rows = await this.#db.all(
      `UPDATE stream_dead_letters SET lease_until = ? WHERE id IN
         (SELECT id FROM stream_dead_letters WHERE lease_until <= ? AND (?::text IS NULL OR id = ANY(?::text[]))
          ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED)
       RETURNING id, body, attempts, first_failed_at`,
      [
        now + Math.max(1, opts.leaseMs),
        now,
        opts.ids ? 'ids' : null,
        opts.ids ? pgArray(opts.ids) : '{}',
        limit,
      ],
    );
    return rows.map(letter).sort((a, b) => cmp(a.id, b.id));
  }

  async release(ids: readonly string[]): Promise<void> {
    if (!ids.length) return;
    await this.#ready();
    await this.#db.run('UPDATE stream_dead_letters SET lease_until = 0 WHERE id = ANY(?::text[])', [
      pgArray(ids),
    ]);
  }

  async forUser(userId: string): Promise<DeadLetter[]> {
    await this.#ready();
    const rows = await this.#db.all(
      'SELECT body, attempts, first_failed_at FROM stream_dead_letters WHERE user_id = ? ORDER BY id',
      [userId],
    );
    return rows.map(letter);
  }

  async eraseUser(userId: string): Promise<number> {
    await this.#ready();
    return this.#db.run('DELETE FROM stream_dead_letters WHERE user_id = ?', [userId]);
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}

/** Row values (BIGINT and count(*) come back from pg as strings). */
const col = {
  num: (v: unknown): number => Number(v),
  str: (v: unknown): string => String(v),
};

function letter(r: Record<string, unknown>): DeadLetter {
  const dl = JSON.parse(col.str(r['body'])) as DeadLetter;
  dl.attempts = col.num(r['attempts']);
  dl.firstFailedAt = col.num(r['first_failed_at']);
  return dl;
}

/** A text[] literal (`{"a","b"}`): one parameter for any number of ids, every character quoted. */
function pgArray(ids: readonly string[]): string {
  return `{${ids.map((id) => `"${id.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

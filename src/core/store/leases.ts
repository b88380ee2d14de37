import type { Clock } from '../time/index.ts';
import { chunks, marks, type SqlDriver, type SqlValue } from './driver.ts';
import { RECIPIENT_COLUMNS, toRecipient } from './jobs.ts';
import type { ClaimRequest, LeaseRepository } from './port.ts';
import type { Recipient, RecipientRef } from './types.ts';

/** Rows a claim may take: due (the partial indexes' predicate, written the same way) and not leased. */
const CLAIMABLE =
  "state IN ('pending', 'held') AND not_before <= ? AND (lease_until IS NULL OR lease_until <= ?)";

/**
 * Recipient leases for nodes sharing one store. A claim is one statement: an UPDATE of
 * the rows its sub-SELECT picks. On PostgreSQL the sub-SELECT locks them with
 * `FOR UPDATE SKIP LOCKED`, so concurrent claims take disjoint rows without waiting on
 * each other; on SQLite the single writer makes the statement atomic by itself.
 */
export class SqlLeaseRepository implements LeaseRepository {
  readonly #db: SqlDriver;
  readonly #clock: Clock;

  constructor(db: SqlDriver, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async claim(req: ClaimRequest): Promise<Recipient[]> {
    if (req.limit <= 0) return [];
    const now = this.#clock.now();
    const byJob = req.jobId === undefined ? '' : ' AND job_id = ?';
    const params: SqlValue[] = [req.nodeId, now + req.leaseMs, now, now];
    if (req.jobId !== undefined) params.push(req.jobId);
    params.push(Math.floor(req.limit));
    const rows = await this.#db.all(
      `UPDATE job_recipients SET lease_owner = ?, lease_until = ?
        FROM (SELECT job_id AS c_job, seq AS c_seq FROM job_recipients
               WHERE ${CLAIMABLE}${byJob}
               ORDER BY not_before, job_id, seq LIMIT ?${this.#db.dialect.skipLocked}) AS c
        WHERE job_id = c.c_job AND seq = c.c_seq
        RETURNING ${RECIPIENT_COLUMNS}`,
      params,
    );
    // RETURNING has no defined order.
    return rows
      .map(toRecipient)
      .sort(
        (a, b) =>
          a.notBefore - b.notBefore || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : a.seq - b.seq),
      );
  }

  async renew(nodeId: string, leaseMs: number, refs?: readonly RecipientRef[]): Promise<number> {
    return this.#update('lease_until = ?', [this.#clock.now() + leaseMs], nodeId, refs);
  }

  async release(nodeId: string, refs?: readonly RecipientRef[]): Promise<number> {
    return this.#update('lease_owner = NULL, lease_until = NULL', [], nodeId, refs);
  }

  /** Applies `set` to the node's leases: all of them, or those in `refs` (grouped per job). */
  async #update(
    set: string,
    setParams: SqlValue[],
    nodeId: string,
    refs: readonly RecipientRef[] | undefined,
  ): Promise<number> {
    const base = `UPDATE job_recipients SET ${set} WHERE lease_owner = ?`;
    if (refs === undefined) return this.#db.run(base, [...setParams, nodeId]);
    const perJob = new Map<string, number[]>();
    for (const r of refs) {
      const seqs = perJob.get(r.jobId);
      if (seqs) seqs.push(r.seq);
      else perJob.set(r.jobId, [r.seq]);
    }
    if (perJob.size === 0) return 0;
    return this.#db.transaction(async (tx) => {
      let n = 0;
      for (const [jobId, seqs] of [...perJob].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        for (const part of chunks(seqs, 1000)) {
          n += await tx.run(`${base} AND job_id = ? AND seq IN (${marks(part.length)})`, [
            ...setParams,
            nodeId,
            jobId,
            ...part,
          ]);
        }
      }
      return n;
    });
  }
}

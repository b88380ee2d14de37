/**
 * GDPR end to end (SPEC §7, issue #10): consent, export and erasure across every store.
 *
 * - Consent lives in the store (`consent` table); a user never asked has CONSENT_DEFAULT.
 * - Export is one JSON document: the store's rows about the user (`store`: devices,
 *   preferences, consent, notification recipients, experiments, jobs naming the user) and
 *   each exporter's part under its name (the event stream, analytics, push…).
 * - Erasure is asynchronous and durable: `erase` persists a receipt listing every store
 *   (each eraser, then the store itself, last) as pending and answers; the erasers run in
 *   the background, in order, each marked done in the receipt as it finishes. A failing
 *   eraser is retried with backoff; a node that dies mid-way continues at start
 *   (`resume`): erasers are idempotent, so running one twice is harmless. When every store
 *   is done the receipt keeps only a salted hash of the user id.
 *
 * Logs never carry the user id: an erasure is known by its receipt id.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { isUserId, USER_ID_RULE } from '../../core/auth/index.ts';
import { BadRequestError } from '../../core/errors/index.ts';
import type { Logger } from '../../core/observability/index.ts';
import type { ConsentChoices, ErasureState, Store } from '../../core/store/index.ts';
import type { Clock, TimerHandle } from '../../core/time/index.ts';

/** Removes everything one store or capability holds about a user. Must be idempotent. */
export interface Eraser {
  name: string;
  erase(userId: string): Promise<void>;
}

/** Everything one store or capability holds about a user, as JSON. */
export interface Exporter {
  name: string;
  export(userId: string): Promise<unknown>;
}

export interface GdprServiceOptions {
  store: Store;
  /** Run in this order, before the store's own erasure (named `store`, always last). */
  erasers: Eraser[];
  exporters: Exporter[];
  /** CONSENT_DEFAULT: the consent of a user never asked. */
  consentDefault: 'granted' | 'denied';
  clock: Clock;
  logger: Logger;
  registry: Registry;
  /** A user's consent changed (caches elsewhere: push, analytics). */
  onConsentChanged?: (userId: string, c: ConsentChoices) => void;
  /** First retry delay of a failed erasure, ms; doubles up to `retryMaxMs`. @default 1000 */
  retryBaseMs?: number;
  /** @default 60_000 */
  retryMaxMs?: number;
}

/** `GET /v1/erasures/{receiptId}`. */
export interface ErasureProgress {
  status: ErasureState;
  stores: Record<string, ErasureState>;
}

/** The store's part of every export and erasure: its name in receipts and export documents. */
export const STORE_PART = 'store';

const PURPOSES = ['analytics', 'personalization', 'marketing'] as const;

/** The three choices of a consent body, each a boolean: throws BadRequestError naming every wrong field. */
export function parseConsent(body: unknown): ConsentChoices {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new BadRequestError('body must be an object {"analytics","personalization","marketing"}');
  const b = body as Record<string, unknown>;
  const problems = [
    ...PURPOSES.filter((p) => typeof b[p] !== 'boolean').map(
      (p) => `${p} must be a boolean${b[p] === undefined ? ' (required)' : ''}`,
    ),
    ...Object.keys(b)
      .filter((k) => !(PURPOSES as readonly string[]).includes(k))
      .map((k) => `${k} is not a consent purpose (analytics, personalization, marketing)`),
  ];
  if (problems.length) throw new BadRequestError(problems.join('; '));
  return {
    analytics: b['analytics'] as boolean,
    personalization: b['personalization'] as boolean,
    marketing: b['marketing'] as boolean,
  };
}

function checkUser(userId: string): void {
  if (!isUserId(userId)) throw new BadRequestError(`user id must be ${USER_ID_RULE}`);
}

export class GdprService {
  readonly #o: GdprServiceOptions;
  readonly #erasers: ReadonlyMap<string, Eraser>;
  /** Receipt id → its run in this process. */
  readonly #running = new Map<string, Promise<void>>();
  readonly #retries = new Map<string, TimerHandle>();
  readonly #attempts = new Map<string, number>();
  #closed = false;
  readonly #m: {
    consent: Counter<'purpose' | 'choice'>;
    exports: Counter<'outcome'>;
    requested: Counter<'outcome'>;
    completed: Counter;
    inProgress: Gauge;
    eraserDuration: Histogram<'store'>;
    eraserFailures: Counter<'store'>;
    duration: Histogram;
  };

  constructor(opts: GdprServiceOptions) {
    const names = [...opts.erasers.map((e) => e.name), STORE_PART];
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new Error(`two erasers named ${dup} (the store's own is "${STORE_PART}")`);
    const exporterNames = opts.exporters.map((e) => e.name);
    const dupExport = [...exporterNames, STORE_PART, 'userId', 'exportedAt', 'consent'].find(
      (n, i, all) => all.indexOf(n) !== i,
    );
    if (dupExport) throw new Error(`exporter name ${dupExport} is taken`);
    this.#o = opts;
    this.#erasers = new Map([
      ...opts.erasers.map((e) => [e.name, e] as const),
      [STORE_PART, { name: STORE_PART, erase: async (u: string) => void (await opts.store.eraseUser(u)) }],
    ]);
    const registers = [opts.registry];
    this.#m = {
      consent: new Counter({
        name: 'backbeat_gdpr_consent_updates_total',
        help: 'Consent choices recorded, by purpose and choice (granted, denied)',
        labelNames: ['purpose', 'choice'] as const,
        registers,
      }),
      exports: new Counter({
        name: 'backbeat_gdpr_exports_total',
        help: 'User data exports, by outcome (ok, failed)',
        labelNames: ['outcome'] as const,
        registers,
      }),
      requested: new Counter({
        name: 'backbeat_gdpr_erasures_requested_total',
        help: 'Erasure requests, by outcome (created: a new receipt; pending: the user already had one pending)',
        labelNames: ['outcome'] as const,
        registers,
      }),
      completed: new Counter({
        name: 'backbeat_gdpr_erasures_completed_total',
        help: 'Erasures completed (every store done; the receipt keeps only a salted hash)',
        registers,
      }),
      inProgress: new Gauge({
        name: 'backbeat_gdpr_erasures_in_progress',
        help: 'Erasures this node is running or retrying',
        registers,
      }),
      eraserDuration: new Histogram({
        name: 'backbeat_gdpr_eraser_duration_seconds',
        help: "Time one store takes to erase one user's data",
        labelNames: ['store'] as const,
        buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
        registers,
      }),
      eraserFailures: new Counter({
        name: 'backbeat_gdpr_eraser_failures_total',
        help: 'Failed attempts of a store to erase a user (retried)',
        labelNames: ['store'] as const,
        registers,
      }),
      duration: new Histogram({
        name: 'backbeat_gdpr_erasure_duration_seconds',
        help: 'From the request (receipt written) to done',
        buckets: [0.01, 0.1, 0.5, 1, 5, 30, 60, 300, 3600],
        registers,
      }),
    };
  }

  /** The user's consent; `CONSENT_DEFAULT` for every purpose when never asked. */
  async consent(userId: string): Promise<ConsentChoices> {
    checkUser(userId);
    const c = await this.#o.store.consent.get(userId);
    if (!c) {
      const d = this.#o.consentDefault === 'granted';
      return { analytics: d, personalization: d, marketing: d };
    }
    return { analytics: c.analytics, personalization: c.personalization, marketing: c.marketing };
  }

  async putConsent(userId: string, c: ConsentChoices): Promise<ConsentChoices> {
    checkUser(userId);
    const choices = parseConsent(c);
    const stored = await this.#o.store.consent.put(userId, choices);
    const out = {
      analytics: stored.analytics,
      personalization: stored.personalization,
      marketing: stored.marketing,
    };
    for (const p of PURPOSES) this.#m.consent.labels(p, out[p] ? 'granted' : 'denied').inc();
    this.#o.onConsentChanged?.(userId, out);
    return out;
  }

  /**
   * One document with everything held about the user: `consent` (the effective choices and
   * whether the user was asked), `store` (the store's rows) and each exporter's part.
   */
  async export(userId: string): Promise<Record<string, unknown>> {
    checkUser(userId);
    try {
      const [stored, ...parts] = await Promise.all([
        this.#o.store.exportUser(userId),
        ...this.#o.exporters.map((e) => e.export(userId)),
      ]);
      const doc: Record<string, unknown> = {
        userId,
        exportedAt: new Date(this.#o.clock.now()).toISOString(),
        consent: { asked: stored.consent !== null, ...(await this.consent(userId)) },
        [STORE_PART]: stored,
      };
      this.#o.exporters.forEach((e, i) => (doc[e.name] = parts[i] ?? null));
      this.#m.exports.labels('ok').inc();
      return doc;
    } catch (err) {
      this.#m.exports.labels('failed').inc();
      throw err;
    }
  }

  /**
   * Starts the erasure of the user (SPEC: 202 with a receipt). The receipt is durable when
   * this resolves; the stores are erased in the background. Idempotent while one is
   * pending: the same receipt comes back.
   */
  async erase(userId: string): Promise<{ receiptId: string }> {
    checkUser(userId);
    const { receipt, created } = await this.#o.store.erasures.begin(userId, [...this.#erasers.keys()]);
    this.#m.requested.labels(created ? 'created' : 'pending').inc();
    this.#o.logger.info(
      { receiptId: receipt.id, created, stores: Object.keys(receipt.stores) },
      'gdpr: erasure requested',
    );
    if (receipt.status === 'pending') this.#start(receipt.id);
    return { receiptId: receipt.id };
  }

  /** Progress of an erasure; undefined for an unknown receipt. */
  async erasure(receiptId: string): Promise<ErasureProgress | undefined> {
    const r = await this.#o.store.erasures.get(receiptId);
    return r ? { status: r.status, stores: r.stores } : undefined;
  }

  /**
   * At start: continues every pending receipt from where it stopped (stores already done
   * are not run again). Resolves once each has been attempted once; failures go on being
   * retried in the background.
   */
  async resume(): Promise<void> {
    const pending = await this.#o.store.erasures.listPending();
    if (pending.length)
      this.#o.logger.info({ receipts: pending.map((r) => r.id) }, 'gdpr: resuming pending erasures');
    for (const r of pending) this.#start(r.id);
    await Promise.all(pending.flatMap((r) => this.#running.get(r.id) ?? []));
  }

  /** Resolves when no erasure is running in this process (retries may still be scheduled). For tests and drain. */
  async idle(): Promise<void> {
    while (this.#running.size) await Promise.all(this.#running.values());
  }

  /** Stops retrying and waits for running erasures (they resume at the next start). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#retries.values()) t.cancel();
    this.#retries.clear();
    await this.idle();
  }

  #start(receiptId: string): void {
    if (this.#closed || this.#running.has(receiptId)) return;
    this.#retries.get(receiptId)?.cancel();
    this.#retries.delete(receiptId);
    if (!this.#attempts.has(receiptId)) this.#m.inProgress.inc();
    const run = this.#run(receiptId)
      .catch((err: unknown) => {
        this.#o.logger.error({ err, receiptId }, 'gdpr: erasure run failed');
        return false;
      })
      .then((done) => {
        this.#running.delete(receiptId);
        if (done) {
          this.#attempts.delete(receiptId);
          this.#m.inProgress.dec();
        } else this.#scheduleRetry(receiptId);
      });
    this.#running.set(receiptId, run);
  }

  #scheduleRetry(receiptId: string): void {
    const attempt = (this.#attempts.get(receiptId) ?? 0) + 1;
    this.#attempts.set(receiptId, attempt);
    if (this.#closed) return;
    const base = this.#o.retryBaseMs ?? 1000;
    const delay = Math.min(this.#o.retryMaxMs ?? 60_000, base * 2 ** Math.min(attempt - 1, 20));
    this.#o.logger.warn({ receiptId, attempt, retryInMs: delay }, 'gdpr: erasure incomplete; retrying');
    this.#retries.set(
      receiptId,
      this.#o.clock.setTimeout(() => {
        this.#retries.delete(receiptId);
        this.#start(receiptId);
      }, delay),
    );
  }

  /** One pass over the receipt's pending stores, in order; true when the receipt is done. */
  async #run(receiptId: string): Promise<boolean> {
    const receipt = await this.#o.store.erasures.get(receiptId);
    if (!receipt) return true;
    if (receipt.status === 'done') return true;
    const userId = receipt.userId;
    let complete = true;
    if (userId !== null) {
      // Stores configured now but unknown when the receipt was written are erased too.
      const order = [...new Set([...this.#erasers.keys(), ...Object.keys(receipt.stores)])]
        .filter((s) => s !== STORE_PART)
        .concat(STORE_PART);
      for (const name of order) {
        if (receipt.stores[name] === 'done') continue;
        const eraser = this.#erasers.get(name);
        if (!eraser) {
          this.#o.logger.error(
            { receiptId, store: name },
            'gdpr: the receipt names a store this node has no eraser for; it stays pending',
          );
          complete = false;
          continue;
        }
        const end = this.#m.eraserDuration.startTimer({ store: name });
        try {
          await eraser.erase(userId);
          end();
          await this.#o.store.erasures.markStore(receiptId, name, 'done');
          this.#o.logger.info({ receiptId, store: name }, 'gdpr: store erased');
        } catch (err) {
          this.#m.eraserFailures.labels(name).inc();
          this.#o.logger.warn(
            { err: scrub(err, userId), receiptId, store: name },
            'gdpr: store erasure failed',
          );
          complete = false;
        }
      }
    }
    if (!complete) return false;
    const done = await this.#o.store.erasures.complete(receiptId);
    this.#m.completed.inc();
    if (done)
      this.#m.duration.observe(Math.max(0, (done.completedAt ?? done.updatedAt) - done.createdAt) / 1000);
    this.#o.logger.info({ receiptId }, 'gdpr: erasure done');
    return true;
  }
}

/** An eraser's error message may name the user: logged without it. */
function scrub(err: unknown, userId: string): { message: string; name: string } {
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message.split(userId).join('<user>') };
}

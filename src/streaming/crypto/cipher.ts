import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
import type { Logger } from '../../core/observability/index.ts';
import type { LogRecord, StoredRecord } from '../log/port.ts';
import type { SqlKeyStore, UserKey } from './keys.ts';

/** Prefix of an encrypted record body: `bbe1.<key id>.<base64(iv ‖ ciphertext ‖ tag)>`. */
export const SEALED_PREFIX = 'bbe1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What the log needs of a record cipher (kafka-log.ts); `UserKeyCipher` is the one implementation. */
export interface RecordCipher {
  start(): Promise<void>;
  /** The records with their bodies encrypted under each record key's (user's) data key. */
  seal(records: readonly LogRecord[]): Promise<LogRecord[]>;
  /** The records decrypted; those under a destroyed key come back `shredded` with an empty body. */
  open(records: readonly StoredRecord[]): Promise<StoredRecord[]>;
  /** Destroys every data key of `userId`; returns how many. */
  destroy(userId: string): Promise<number>;
  /** Drops what is cached about `userId` (another node erased it). */
  forget(userId: string): void;
  close(): Promise<void>;
}

export interface UserKeyCipherOptions {
  keys: SqlKeyStore;
  logger: Logger;
  /** Keys cached in memory at most (by user and by key id, each). @default 50_000 */
  maxCached?: number;
  /** Called per record skipped because its key is destroyed (`shredded`) or unknown here. */
  onSkipped?: (reason: 'shredded' | 'unknown_key', n: number) => void;
}

/**
 * Crypto-shredding for a log that cannot be rewritten (Kafka, SPEC §7): each record body is
 * encrypted with AES-256-GCM under its key's (the user's) data key from the key store; the
 * record key and id are the additional authenticated data, so a body cannot be moved to
 * another user's record. `destroy` deletes the user's keys: their records are then
 * unreadable everywhere, on every replica and in every backup of the topic, and readers get
 * them as `shredded`. Bodies without the prefix (written before encryption was on) pass
 * through as they are.
 *
 * Keys are cached (bounded); a destroyed key id is remembered as such, so replaying a
 * shredded user's records costs one lookup per key id, not one per record.
 */
export class UserKeyCipher implements RecordCipher {
  readonly #o: UserKeyCipherOptions;
  /** Bounded (`maxCached` each), least recently used out first, in O(1) (lru-cache). */
  readonly #byUser: LRUCache<string, UserKey>;
  readonly #byKid: LRUCache<string, { key: Buffer; userId: string }>;
  /** Key ids known to be gone: destroyed, or unknown to this store (logged once each). */
  readonly #gone: LRUCache<string, 'shredded' | 'unknown_key'>;
  #closed: Promise<void> | undefined;

  constructor(opts: UserKeyCipherOptions) {
    this.#o = opts;
    const bound = opts.maxCached ?? 50_000;
    this.#byUser = boundedCache(bound);
    this.#byKid = boundedCache(bound);
    this.#gone = boundedCache(bound);
  }

  start(): Promise<void> {
    return this.#o.keys.start();
  }

  async seal(records: readonly LogRecord[]): Promise<LogRecord[]> {
    const missing = [...new Set(records.map((r) => r.key))].filter((u) => !this.#byUser.has(u));
    if (missing.length) {
      for (const [userId, k] of await this.#o.keys.forUsers(missing)) this.#remember(userId, k);
    }
    return records.map((r) => {
      const k = this.#byUser.get(r.key);
      if (!k) throw new Error(`no data key for record key ${r.key}`);
      return { ...r, body: sealBody(r, k) };
    });
  }

  async open(records: readonly StoredRecord[]): Promise<StoredRecord[]> {
    const unknown = new Set<string>();
    for (const r of records) {
      const kid = kidOf(r.body);
      if (kid !== undefined && !this.#byKid.has(kid) && !this.#gone.has(kid)) unknown.add(kid);
    }
    if (unknown.size) {
      for (const [kid, found] of await this.#o.keys.lookup([...unknown])) {
        if (found.state === 'live') {
          this.#byKid.set(kid, { key: found.key, userId: found.userId });
          continue;
        }
        const reason = found.state === 'destroyed' ? 'shredded' : 'unknown_key';
        if (reason === 'unknown_key') {
          this.#o.logger.error(
            { kid, keyStore: this.#o.keys.description },
            'event log record encrypted with a key this node does not have: with several nodes on Kafka, set DATABASE_URL so that every node shares the key store; the record is skipped',
          );
        }
        this.#gone.set(kid, reason);
      }
    }
    let shredded = 0;
    let unknownKey = 0;
    const out = records.map((r): StoredRecord => {
      const kid = kidOf(r.body);
      if (kid === undefined) return r;
      const k = this.#byKid.get(kid);
      if (k) return { ...r, body: openBody(r, k.key) };
      if (this.#gone.get(kid) === 'unknown_key') unknownKey++;
      else shredded++;
      return { ...r, body: '', shredded: true };
    });
    if (shredded) this.#o.onSkipped?.('shredded', shredded);
    if (unknownKey) this.#o.onSkipped?.('unknown_key', unknownKey);
    return out;
  }

  async destroy(userId: string): Promise<number> {
    this.forget(userId);
    const kids = await this.#o.keys.destroy(userId);
    for (const kid of kids) {
      this.#byKid.delete(kid);
      this.#gone.set(kid, 'shredded');
    }
    return kids.length;
  }

  forget(userId: string): void {
    this.#byUser.delete(userId);
    // Collected first: no deleting from the cache while iterating it. Not marked gone:
    // another node's erasure told us; the store says what the key is.
    const kids: string[] = [];
    for (const [kid, k] of this.#byKid.entries()) if (k.userId === userId) kids.push(kid);
    for (const kid of kids) this.#byKid.delete(kid);
  }

  close(): Promise<void> {
    this.#closed ??= this.#o.keys.close();
    return this.#closed;
  }

  #remember(userId: string, k: UserKey): void {
    this.#byUser.set(userId, k);
    this.#byKid.set(k.kid, { key: k.key, userId });
  }
}

function aad(r: Pick<LogRecord, 'key' | 'id'>): Buffer {
  return Buffer.from(`${r.key}\u0000${r.id}`, 'utf8');
}

function sealBody(r: LogRecord, k: UserKey): string {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', k.key, iv);
  c.setAAD(aad(r));
  const ct = Buffer.concat([c.update(r.body, 'utf8'), c.final()]);
  return `${SEALED_PREFIX}${k.kid}.${Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64')}`;
}

/** The key id of a sealed body, undefined for a plaintext one. */
export function kidOf(body: string): string | undefined {
  if (!body.startsWith(SEALED_PREFIX)) return undefined;
  const end = body.indexOf('.', SEALED_PREFIX.length);
  return end < 0 ? undefined : body.slice(SEALED_PREFIX.length, end);
}

/** Decrypts; a body that fails authentication is returned as it is (the processor dead-letters it as undecodable). */
function openBody(r: StoredRecord, key: Buffer): string {
  try {
    const raw = Buffer.from(r.body.slice(r.body.indexOf('.', SEALED_PREFIX.length) + 1), 'base64');
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    d.setAAD(aad(r));
    d.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    return Buffer.concat([d.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), d.final()]).toString(
      'utf8',
    );
  } catch {
    return r.body;
  }
}

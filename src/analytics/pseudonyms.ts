/**
 * Pseudonymous identifiers (SPEC §7: "identifiers are pseudonymized before analytics
 * stores them"). A user's pseudonym is HMAC-SHA256(key of the epoch, userId), truncated to
 * 128 bits, base64url. Keys rotate every calendar month (UTC): each epoch has its own
 * random 256-bit key, created on first use and kept in DATA_DIR/analytics-keys.json (mode
 * 0600, written atomically); only the newest `keep` epochs are kept, so an older key — and
 * with it the link between an old pseudonym and anyone — is destroyed.
 *
 * The pseudonym → user id mapping lives only in `PseudonymVault`, apart from the analytics
 * state: the state is keyed by pseudonym, and the vault is read only to answer a query
 * about a named user, for export and erasure, and to list a segment's members.
 */
import { createHmac, hash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/observability/index.ts';

export const KEYS_FILE = 'analytics-keys.json';

/** A month (UTC) of one key: `id` like `2026-01`, [start, end) in ms. */
export interface Epoch {
  id: string;
  start: number;
  end: number;
}

export function epochOf(ms: number): Epoch {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  return {
    id: `${y}-${String(m + 1).padStart(2, '0')}`,
    start: Date.UTC(y, m, 1),
    end: Date.UTC(y, m + 1, 1),
  };
}

/** A user's pseudonym and 64 bits of it as two unsigned halves (the sketches' hash of the user). */
export interface Pseudonym {
  id: string;
  hi: number;
  lo: number;
}

const BLOCK = 64;
const MAX_INLINE = 512;

/**
 * HMAC-SHA256 with the key's inner and outer pads computed once: a pseudonym costs two
 * one-shot hashes and no per-call key setup (createHmac with a raw key re-derives the
 * key object each call, ~8× slower).
 */
export class PseudonymKey {
  readonly #key: Buffer;
  readonly #inner = Buffer.alloc(BLOCK + MAX_INLINE);
  readonly #outer = Buffer.alloc(BLOCK + 32);

  constructor(key: Buffer) {
    if (key.length !== 32) throw new RangeError('a pseudonym key is 32 bytes');
    this.#key = key;
    for (let i = 0; i < BLOCK; i++) {
      this.#inner[i] = (key[i] ?? 0) ^ 0x36;
      this.#outer[i] = (key[i] ?? 0) ^ 0x5c;
    }
  }

  /** HMAC-SHA256(key, userId). */
  mac(userId: string): Buffer {
    if (userId.length * 3 > MAX_INLINE) return createHmac('sha256', this.#key).update(userId).digest();
    const n = this.#inner.write(userId, BLOCK, 'utf8');
    hash('sha256', this.#inner.subarray(0, BLOCK + n), 'buffer').copy(this.#outer, BLOCK);
    return hash('sha256', this.#outer, 'buffer');
  }

  pseudonym(userId: string): Pseudonym {
    const d = this.mac(userId);
    return { id: d.toString('base64url', 0, 16), hi: d.readUInt32BE(0), lo: d.readUInt32BE(4) };
  }
}

interface KeysFile {
  version: 1;
  keys: Array<{ epoch: string; key: string; createdAt: string }>;
}

/** The epoch keys under DATA_DIR (see the header). */
export class KeyRing {
  readonly path: string;
  readonly #dir: string;
  readonly #keep: number;
  readonly #logger: Logger;
  #keys: Map<string, { key: Buffer; createdAt: string }> | undefined;

  constructor(opts: { dataDir: string; logger: Logger; keep?: number }) {
    this.#dir = opts.dataDir;
    this.path = join(opts.dataDir, KEYS_FILE);
    this.#keep = Math.max(1, opts.keep ?? 2);
    this.#logger = opts.logger;
  }

  /** The key of `epoch`, created (and the file written) on first use. */
  key(epoch: string): PseudonymKey {
    const keys = this.#load();
    let entry = keys.get(epoch);
    if (!entry) {
      entry = { key: randomBytes(32), createdAt: new Date().toISOString() };
      keys.set(epoch, entry);
      const dropped = [...keys.keys()]
        .sort()
        .slice(0, Math.max(0, keys.size - this.#keep))
        .filter((e) => e !== epoch);
      for (const e of dropped) keys.delete(e);
      this.#save(keys);
      this.#logger.info({ epoch, dropped, file: this.path }, 'analytics pseudonym key created');
    }
    return new PseudonymKey(entry.key);
  }

  /** Epochs with a key, oldest first (tests, diagnostics). */
  epochs(): string[] {
    return [...this.#load().keys()].sort();
  }

  #load(): Map<string, { key: Buffer; createdAt: string }> {
    if (this.#keys) return this.#keys;
    const keys = new Map<string, { key: Buffer; createdAt: string }>();
    if (existsSync(this.path)) {
      if ((statSync(this.path).mode & 0o077) !== 0) {
        chmodSync(this.path, 0o600);
        this.#logger.warn({ file: this.path }, 'analytics key file was readable by others; mode set to 0600');
      }
      const file = JSON.parse(readFileSync(this.path, 'utf8')) as KeysFile;
      if (file.version !== 1 || !Array.isArray(file.keys))
        throw new Error(`${this.path}: not an analytics key file (version 1)`);
      for (const k of file.keys) {
        const key = Buffer.from(k.key, 'base64');
        if (key.length !== 32 || !/^\d{4}-\d{2}$/.test(k.epoch))
          throw new Error(`${this.path}: bad key for epoch ${k.epoch}`);
        keys.set(k.epoch, { key, createdAt: k.createdAt });
      }
    }
    this.#keys = keys;
    return keys;
  }

  #save(keys: Map<string, { key: Buffer; createdAt: string }>): void {
    mkdirSync(this.#dir, { recursive: true });
    const file: KeysFile = {
      version: 1,
      keys: [...keys].map(([epoch, k]) => ({ epoch, key: k.key.toString('base64'), createdAt: k.createdAt })),
    };
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flush: true });
    chmodSync(tmp, 0o600); // the umask could have narrowed it, never widened; make it exact
    renameSync(tmp, this.path);
  }
}

/**
 * The user id ↔ pseudonym mapping, kept apart from the analytics state (see the header):
 * the only place analytics holds user ids. It maps a user id to the slot of the user's
 * pseudonymous record (so the stream finds an event's record without an HMAC per event)
 * and a pseudonym back to the user id (export, erasure, a segment's members). Holds an
 * entry only for users the state has a record of.
 */
export class PseudonymVault {
  readonly #byUser = new Map<string, number>();
  readonly #byPseudonym = new Map<string, string>();

  get size(): number {
    return this.#byUser.size;
  }

  /** The slot of the user's record. */
  get(userId: string): number | undefined {
    return this.#byUser.get(userId);
  }

  userOf(pseudonym: string): string | undefined {
    return this.#byPseudonym.get(pseudonym);
  }

  /** Adds a user, or re-keys one (rotation: `oldPseudonym` is forgotten). */
  set(userId: string, slot: number, pseudonym: string, oldPseudonym?: string): void {
    if (oldPseudonym !== undefined) this.#byPseudonym.delete(oldPseudonym);
    this.#byUser.set(userId, slot);
    this.#byPseudonym.set(pseudonym, userId);
  }

  /** Forgets the user behind `pseudonym`. */
  deletePseudonym(pseudonym: string): void {
    const u = this.#byPseudonym.get(pseudonym);
    if (u === undefined) return;
    this.#byPseudonym.delete(pseudonym);
    this.#byUser.delete(u);
  }

  /** [userId, slot] pairs (a copy: rotation re-keys while iterating). */
  entries(): Array<[string, number]> {
    return [...this.#byUser];
  }
}

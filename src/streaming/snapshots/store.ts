/**
 * Snapshot files of the stream handlers' in-memory state (see processor.ts for when they
 * are taken and restored). One file per snapshot under `dir`:
 *
 *   magic "BBSNAP\0\1" (8 bytes) · u32 BE header length · header (JSON) · body · sha256 (32 bytes)
 *
 * The header names the format version, when the snapshot was taken, the log engine and
 * consumer group, the log position it covers (offset per partition: the last offset whose
 * record is reflected in the state) and the handlers it holds; the body is
 * `v8.serialize({ handler name → handler snapshot, … })` (typed arrays are stored as raw
 * bytes, so large numeric state costs its size, not a JSON rendering of it). The trailing
 * sha256 covers everything before it: a torn, truncated or bit-flipped file is detected
 * before anything of it is used.
 *
 * Writes are atomic: a temp file in the same directory, fsync, rename, fsync of the
 * directory; a crash at any point leaves the previous snapshots intact (and at most a stray
 * temp file, removed at the next open). Files are named by a growing sequence number; the
 * newest `keep` are kept. Writes run one at a time, in order, on an internal queue.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';

export const SNAPSHOT_FORMAT = 1;
const MAGIC = Buffer.from([0x42, 0x42, 0x53, 0x4e, 0x41, 0x50, 0x00, 0x01]); // "BBSNAP\0\1"
const HASH_BYTES = 32;
const NAME = /^snapshot-(\d{12})\.bbsnap$/;
/** Largest header accepted (positions of many partitions, handler names): a bound on what a bad file can make us parse. */
const MAX_HEADER_BYTES = 1 << 20;

export interface SnapshotHeader {
  format: number;
  /** ISO time the snapshot was taken. */
  createdAt: string;
  log: string;
  group: string;
  /** Last offset reflected in the state, per partition. */
  positions: Record<string, number>;
  /** Handler names, in the processor's order. */
  handlers: string[];
  /** Events handled by the process that wrote it (information only). */
  handled: number;
  bodyBytes: number;
}

export interface EncodedSnapshot {
  header: SnapshotHeader;
  bytes: Buffer;
}

/** Why a snapshot file was not used (also the `reason` label of the metric). */
export type SnapshotProblem = 'truncated' | 'checksum' | 'format' | 'decode' | 'mismatch' | 'restore' | 'io';

export class SnapshotInvalidError extends Error {
  readonly reason: SnapshotProblem;
  constructor(reason: SnapshotProblem, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SnapshotInvalidError';
    this.reason = reason;
  }
}

/** Serializes a state into the file format (synchronous: the caller holds the state still meanwhile). */
export function encodeSnapshot(
  meta: Omit<SnapshotHeader, 'format' | 'bodyBytes'>,
  state: Record<string, unknown>,
): EncodedSnapshot {
  const body = serialize(state);
  const header: SnapshotHeader = { format: SNAPSHOT_FORMAT, ...meta, bodyBytes: body.length };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(headerBytes.length);
  const hash = createHash('sha256');
  for (const part of [MAGIC, len, headerBytes, body]) hash.update(part);
  return { header, bytes: Buffer.concat([MAGIC, len, headerBytes, body, hash.digest()]) };
}

/** Verifies and parses a snapshot file's bytes; throws SnapshotInvalidError naming the problem. */
export function decodeSnapshot(bytes: Buffer): { header: SnapshotHeader; state: Record<string, unknown> } {
  if (bytes.length < MAGIC.length + 4 + HASH_BYTES)
    throw new SnapshotInvalidError('truncated', `snapshot file too short (${bytes.length} bytes)`);
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    // Same prefix, another version byte: a format this build does not read.
    const sameFamily = bytes.subarray(0, MAGIC.length - 1).equals(MAGIC.subarray(0, MAGIC.length - 1));
    throw new SnapshotInvalidError(sameFamily ? 'format' : 'decode', 'not a snapshot file of this format');
  }
  const headerLen = bytes.readUInt32BE(MAGIC.length);
  const bodyAt = MAGIC.length + 4 + headerLen;
  if (headerLen > MAX_HEADER_BYTES || bodyAt + HASH_BYTES > bytes.length)
    throw new SnapshotInvalidError('truncated', 'snapshot header runs past the end of the file');
  const end = bytes.length - HASH_BYTES;
  // The header is read before the checksum only to tell a short (torn) file from a corrupt one.
  let header: SnapshotHeader | undefined;
  try {
    header = JSON.parse(bytes.toString('utf8', MAGIC.length + 4, bodyAt)) as SnapshotHeader;
  } catch {
    header = undefined;
  }
  if (header && typeof header.bodyBytes === 'number' && header.bodyBytes > end - bodyAt)
    throw new SnapshotInvalidError('truncated', 'snapshot file ends before its body does (torn write)');
  const digest = createHash('sha256').update(bytes.subarray(0, end)).digest();
  if (!digest.equals(bytes.subarray(end)))
    throw new SnapshotInvalidError('checksum', 'snapshot checksum mismatch (corrupt file)');
  if (!header) throw new SnapshotInvalidError('decode', 'snapshot header is not JSON');
  if (header.format !== SNAPSHOT_FORMAT)
    throw new SnapshotInvalidError(
      'format',
      `snapshot format ${String(header.format)} is not ${SNAPSHOT_FORMAT}`,
    );
  if (header.bodyBytes !== end - bodyAt)
    throw new SnapshotInvalidError('truncated', 'snapshot body length does not match its header');
  if (
    typeof header.positions !== 'object' ||
    header.positions === null ||
    !Object.entries(header.positions).every(
      ([p, o]) => /^\d+$/.test(p) && Number.isSafeInteger(o) && o >= -1,
    ) ||
    !Array.isArray(header.handlers) ||
    !header.handlers.every((h) => typeof h === 'string')
  )
    throw new SnapshotInvalidError('decode', 'snapshot header has bad positions or handlers');
  let state: unknown;
  try {
    state = deserialize(bytes.subarray(bodyAt, end));
  } catch (err) {
    throw new SnapshotInvalidError('decode', 'snapshot body does not deserialize', { cause: err });
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state))
    throw new SnapshotInvalidError('decode', 'snapshot body is not a map of handler states');
  return { header, state: state as Record<string, unknown> };
}

export interface SnapshotFile {
  name: string;
  path: string;
  seq: number;
}

/** The snapshot directory: atomic writes, newest-first listing, pruning, erasure purge. */
export class SnapshotStore {
  readonly dir: string;
  readonly keep: number;
  #seq = 0;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(dir: string, keep = 2) {
    this.dir = dir;
    this.keep = Math.max(1, keep);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Temp files of writes a crash interrupted: never renamed, so never used; remove them.
    for (const f of readdirSync(dir)) if (f.endsWith('.tmp')) rmSync(join(dir, f), { force: true });
    for (const f of this.files()) this.#seq = Math.max(this.#seq, f.seq);
  }

  /** Snapshot files, newest first. */
  files(): SnapshotFile[] {
    const out: SnapshotFile[] = [];
    for (const name of readdirSync(this.dir)) {
      const m = NAME.exec(name);
      if (m) out.push({ name, path: join(this.dir, name), seq: Number(m[1]) });
    }
    return out.sort((a, b) => b.seq - a.seq);
  }

  /** Reads and verifies one file (synchronously: start-up only). */
  read(file: SnapshotFile): { header: SnapshotHeader; state: Record<string, unknown>; bytes: number } {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file.path);
    } catch (err) {
      throw new SnapshotInvalidError('io', `cannot read ${file.name}`, { cause: err });
    }
    return { ...decodeSnapshot(bytes), bytes: bytes.length };
  }

  /**
   * Writes a snapshot atomically after the writes queued before it, then keeps the newest
   * `keep`. Resolves with the file once it is durable (renamed and the directory synced).
   */
  write(snapshot: EncodedSnapshot): Promise<SnapshotFile> {
    const seq = ++this.#seq;
    return this.#enqueue(async () => {
      const name = `snapshot-${String(seq).padStart(12, '0')}.bbsnap`;
      const path = join(this.dir, name);
      const tmp = `${path}.tmp`;
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(snapshot.bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      await this.#syncDir();
      for (const old of this.files().slice(this.keep)) await unlink(old.path).catch(() => undefined);
      return { name, path, seq };
    });
  }

  /**
   * Removes every snapshot but `except` (GDPR erasure: older snapshots may hold the erased
   * user): each file is overwritten with zeros and synced before it is unlinked, so its
   * content is not left in the file's blocks on a file system that overwrites in place.
   * Runs after the writes already queued (one of them may hold the user too).
   */
  purge(except?: string): Promise<number> {
    return this.#enqueue(async () => {
      let n = 0;
      for (const f of this.files()) {
        if (f.name === except) continue;
        await scrub(f.path);
        n++;
      }
      await this.#syncDir();
      return n;
    });
  }

  /** Resolves once every queued write or purge is done. */
  idle(): Promise<void> {
    return this.#enqueue(async () => undefined);
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #syncDir(): Promise<void> {
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

async function scrub(path: string): Promise<void> {
  try {
    const fh = await open(path, 'r+');
    try {
      const { size } = await fh.stat();
      const zeros = Buffer.alloc(Math.min(size, 1 << 20));
      for (let at = 0; at < size; at += zeros.length)
        await fh.write(zeros, 0, Math.min(zeros.length, size - at), at);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Gone already, or unreadable: unlink below either way.
  }
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/**
 * Snapshot files of the stream handlers' in-memory state (see processor.ts for when they
 * are taken and restored). One file per snapshot under `dir`:
 *
 *   magic "BBSNAP\0\1" (8 bytes) · u32 BE header length · header (JSON) · body · sha256 (32 bytes)
 *
 * The header names the format version, when the snapshot was taken, the log engine and
 * consumer group, the log position it covers (offset per partition: the last offset whose
 * record is reflected in the state), the handlers it holds and the body's parts; the body is
 * one `v8.serialize` per part, back to back: the processor's own state first, then each
 * handler's snapshot (so serializing or restoring one handler never holds the others'
 * object graphs, and each part's cost is measured apart). Typed arrays are stored as raw
 * bytes, so large numeric state costs its size, not a rendering of it. The trailing sha256
 * covers everything before it: a torn, truncated or bit-flipped file is detected before
 * anything of it is used. The hash is computed while the file is written (in the
 * background, in chunks), not while the stream waits.
 *
 * Writes are atomic: a temp file in the same directory, fsync, rename, fsync of the
 * directory; a crash at any point leaves the previous snapshots intact (and at most a stray
 * temp file, removed at the next open). Files are named by a growing sequence number; the
 * newest `keep` are kept. Writes run one at a time, in order, on an internal queue.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';

export const SNAPSHOT_FORMAT = 3;
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
  /** The body's parts in order (`processor`, then one per handler state) and their sizes. */
  parts: SnapshotPartInfo[];
}

export interface SnapshotPartInfo {
  name: string;
  bytes: number;
}

/** One serialized part of the body. */
export interface SnapshotPart {
  name: string;
  body: Buffer;
}

/** A snapshot ready to write: the header and the body's parts (hashed and written by `SnapshotStore.write`). */
export interface EncodedSnapshot {
  header: SnapshotHeader;
  /** Magic, header length and header. */
  head: Buffer;
  parts: SnapshotPart[];
  /** Size of the file: head, body and hash. */
  bytes: number;
}

/** Name of the processor's own part. */
export const PROCESSOR_PART = 'processor';
/** Chunk of the body hashed and written at a time (the event loop runs between two). */
const WRITE_CHUNK = 4 << 20;

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

/** Serializes one part of the body (synchronous: the caller holds the state still meanwhile). */
export function serializePart(name: string, value: unknown): SnapshotPart {
  return { name, body: serialize(value) };
}

/** Assembles parts already serialized (`processor` first) into a snapshot; copies nothing, hashes nothing. */
export function encodeParts(
  meta: Omit<SnapshotHeader, 'format' | 'bodyBytes' | 'parts'>,
  parts: SnapshotPart[],
): EncodedSnapshot {
  if (parts[0]?.name !== PROCESSOR_PART) throw new TypeError(`the first part must be ${PROCESSOR_PART}`);
  let bodyBytes = 0;
  for (const p of parts) bodyBytes += p.body.length;
  const header: SnapshotHeader = {
    format: SNAPSHOT_FORMAT,
    ...meta,
    bodyBytes,
    parts: parts.map((p) => ({ name: p.name, bytes: p.body.length })),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(MAGIC.length + 4 + headerBytes.length);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(headerBytes.length, MAGIC.length);
  headerBytes.copy(head, MAGIC.length + 4);
  return { header, head, parts, bytes: head.length + bodyBytes + HASH_BYTES };
}

/** Serializes a state `{ processor, handlers: { name → state } }` into the file format (one part each). */
export function encodeSnapshot(
  meta: Omit<SnapshotHeader, 'format' | 'bodyBytes' | 'parts'>,
  state: { processor: unknown; handlers: Record<string, unknown> },
): EncodedSnapshot {
  return encodeParts(meta, [
    serializePart(PROCESSOR_PART, state.processor),
    ...Object.entries(state.handlers).map(([name, v]) => serializePart(name, v)),
  ]);
}

/** The whole file in one buffer (tests, tools; `SnapshotStore.write` streams the parts instead). */
export function snapshotBytes(snapshot: EncodedSnapshot): Buffer {
  const hash = createHash('sha256').update(snapshot.head);
  for (const p of snapshot.parts) hash.update(p.body);
  return Buffer.concat([snapshot.head, ...snapshot.parts.map((p) => p.body), hash.digest()]);
}

/** A verified file's parts, deserialized one at a time on demand. */
export interface DecodedSnapshot {
  header: SnapshotHeader;
  /** Deserializes one part (throws SnapshotInvalidError 'decode'); each part is decoded anew per call. */
  part(name: string): unknown;
  /** `{ processor, handlers: { name → state } }`, every part deserialized. */
  readonly state: Record<string, unknown>;
}

/** Verifies and parses a snapshot file's bytes; throws SnapshotInvalidError naming the problem. */
export function decodeSnapshot(bytes: Buffer): DecodedSnapshot {
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
  const parts = header.parts;
  if (
    !Array.isArray(parts) ||
    parts[0]?.name !== PROCESSOR_PART ||
    !parts.every((p) => typeof p?.name === 'string' && Number.isSafeInteger(p.bytes) && p.bytes >= 0) ||
    new Set(parts.map((p) => p.name)).size !== parts.length ||
    parts.reduce((n, p) => n + p.bytes, 0) !== header.bodyBytes
  )
    throw new SnapshotInvalidError('decode', 'snapshot header has bad parts');
  const at = new Map<string, [number, number]>();
  let from = bodyAt;
  for (const p of parts) {
    at.set(p.name, [from, from + p.bytes]);
    from += p.bytes;
  }
  const part = (name: string): unknown => {
    const range = at.get(name);
    if (!range) throw new SnapshotInvalidError('decode', `snapshot has no part ${name}`);
    try {
      return deserialize(bytes.subarray(range[0], range[1]));
    } catch (err) {
      throw new SnapshotInvalidError('decode', `snapshot part ${name} does not deserialize`, { cause: err });
    }
  };
  return {
    header,
    part,
    get state() {
      const handlers: Record<string, unknown> = {};
      for (const p of parts.slice(1)) handlers[p.name] = part(p.name);
      return { processor: part(PROCESSOR_PART), handlers };
    },
  };
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
  read(file: SnapshotFile): DecodedSnapshot & { bytes: number } {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file.path);
    } catch (err) {
      throw new SnapshotInvalidError('io', `cannot read ${file.name}`, { cause: err });
    }
    const decoded = decodeSnapshot(bytes);
    return Object.assign(decoded, { bytes: bytes.length });
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
        // Hashed and written a chunk at a time, straight from the parts: no copy of the
        // whole body, and the event loop (the stream) runs between two chunks.
        const hash = createHash('sha256');
        let pos = 0;
        for (const buf of [snapshot.head, ...snapshot.parts.map((p) => p.body)]) {
          for (let at = 0; at < buf.length; at += WRITE_CHUNK) {
            const chunk = buf.subarray(at, Math.min(buf.length, at + WRITE_CHUNK));
            hash.update(chunk);
            await writeAll(fh, chunk, pos);
            pos += chunk.length;
          }
        }
        await writeAll(fh, hash.digest(), pos);
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

async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length;) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
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

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_FORMAT,
  SnapshotInvalidError,
  snapshotBytes,
} from './store.ts';

const meta = {
  createdAt: new Date(0).toISOString(),
  log: 'sqlite',
  group: 'g',
  positions: { 0: 7 },
  handlers: ['h'],
  handled: 7,
};

/** The same file with its header's format replaced and the checksum made right again (a file an older build wrote). */
function withFormat(bytes: Buffer, format: number): Buffer {
  const len = bytes.readUInt32BE(8);
  const header = JSON.parse(bytes.toString('utf8', 12, 12 + len)) as Record<string, unknown>;
  const head = Buffer.from(JSON.stringify({ ...header, format }), 'utf8');
  const lenBuf = Buffer.alloc(4);
  lenBuf.writeUInt32BE(head.length);
  const body = bytes.subarray(12 + len, bytes.length - 32);
  const out = Buffer.concat([bytes.subarray(0, 8), lenBuf, head, body]);
  return Buffer.concat([out, createHash('sha256').update(out).digest()]);
}

describe('snapshot file format', () => {
  it('round-trips typed-array columns part by part', () => {
    const state = {
      processor: { recent: 1 },
      handlers: { h: { ids: new Uint32Array([1, 2, 3]), w: new Float64Array([0.5]) } },
    };
    const d = decodeSnapshot(snapshotBytes(encodeSnapshot(meta, state)));
    expect(d.header.format).toBe(SNAPSHOT_FORMAT);
    expect(d.part('h')).toEqual(state.handlers.h);
  });

  it('refuses a file of an older format (a full replay follows), before any part is read', () => {
    expect(SNAPSHOT_FORMAT).toBe(3);
    const good = snapshotBytes(encodeSnapshot(meta, { processor: {}, handlers: { h: { x: 1 } } }));
    expect(decodeSnapshot(withFormat(good, SNAPSHOT_FORMAT)).part('h')).toEqual({ x: 1 });
    for (const old of [1, 2]) {
      const err = (() => {
        try {
          decodeSnapshot(withFormat(good, old));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(SnapshotInvalidError);
      expect((err as SnapshotInvalidError).reason).toBe('format');
    }
  });
});

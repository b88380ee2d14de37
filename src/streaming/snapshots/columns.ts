/**
 * Columnar building blocks for handler snapshots. `v8.serialize` writes a typed array as
 * its raw bytes and a long string as one run of characters, but walks millions of small
 * objects (or strings in an array) one tag at a time, and `deserialize` allocates each of
 * them: a snapshot of flat columns is serialized, written and restored at memory speed.
 *
 * - `PackedStrings`: many strings as one string and their lengths (any characters allowed).
 * - `StringDictionary`: interning of repeated strings (ids in histories) to u32 indices.
 */
import { bad, obj, typed } from './check.ts';

/** Strings as one concatenated string and the length of each (UTF-16 code units). */
export interface PackedStrings {
  text: string;
  lengths: Uint32Array;
}

export function packStrings(strings: readonly string[]): PackedStrings {
  const lengths = new Uint32Array(strings.length);
  for (let i = 0; i < strings.length; i++) lengths[i] = strings[i]!.length;
  return { text: strings.join(''), lengths };
}

/** Checks and unpacks a `packStrings()` (throws InvalidHandlerSnapshotError naming `path`). */
export function unpackStrings(v: unknown, path: string, max = Number.MAX_SAFE_INTEGER): string[] {
  const o = obj(v, path);
  const text = o['text'];
  if (typeof text !== 'string') bad(`${path}.text`, 'expected a string');
  const lengths = typed(o['lengths'], Uint32Array, `${path}.lengths`);
  if (lengths.length > max) bad(path, `more than ${max} items`);
  // push, not new Array(n): a large preallocated array may start in V8's slow (dictionary) mode.
  const out: string[] = [];
  let at = 0;
  for (let i = 0; i < lengths.length; i++) {
    const end = at + lengths[i]!;
    if (end > text.length) bad(`${path}.lengths`, 'run past the end of the text');
    out.push(text.slice(at, end));
    at = end;
  }
  if (at !== text.length) bad(`${path}.lengths`, 'do not cover the text');
  return out;
}

/** Distinct strings in first-seen order, each with its index. */
export class StringDictionary {
  readonly #index = new Map<string, number>();
  readonly #strings: string[] = [];

  /** The index of `s`, added when new. */
  id(s: string): number {
    let i = this.#index.get(s);
    if (i === undefined) {
      i = this.#strings.length;
      this.#strings.push(s);
      this.#index.set(s, i);
    }
    return i;
  }

  pack(): PackedStrings {
    return packStrings(this.#strings);
  }
}

/** Checks that every index in `ids` is below `size` (a dictionary's length). */
export function checkIndices(ids: Uint32Array, size: number, path: string): void {
  for (let i = 0; i < ids.length; i++)
    if (ids[i]! >= size) bad(`${path}[${i}]`, `index past the dictionary (${size})`);
}

/** Checks that every value is finite (numbers read back into state). */
export function checkFinite(values: Float64Array, path: string): void {
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i]!)) bad(`${path}[${i}]`, 'expected a finite number');
}

/** A column of optional strings: a dictionary of the distinct ones and, per row, 0 (none) or 1 + its index. */
export interface StringColumn {
  dictionary: PackedStrings;
  index: Uint32Array;
}

export function packColumn(values: ReadonlyArray<string | undefined>): StringColumn {
  const dict = new StringDictionary();
  const index = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== undefined) index[i] = dict.id(v) + 1;
  }
  return { dictionary: dict.pack(), index };
}

/** Checks and unpacks a `packColumn()` of `length` rows (throws InvalidHandlerSnapshotError naming `path`). */
export function unpackColumn(v: unknown, path: string, length: number): Array<string | undefined> {
  const o = obj(v, path);
  const dictionary = unpackStrings(o['dictionary'], `${path}.dictionary`);
  const index = typed(o['index'], Uint32Array, `${path}.index`, length);
  const out: Array<string | undefined> = [];
  for (let i = 0; i < length; i++) {
    const k = index[i]!;
    if (k > dictionary.length) bad(`${path}.index[${i}]`, `index past the dictionary (${dictionary.length})`);
    out.push(k === 0 ? undefined : dictionary[k - 1]);
  }
  return out;
}

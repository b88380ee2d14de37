/**
 * Hashes for sketches, computed with 32-bit integer arithmetic (no BigInt, no allocation).
 *
 * `hashInto(value)` — 64 bits, for HyperLogLog. Strings: two 32-bit lanes over the UTF-16
 * code units taken two at a time (each 32-bit block is mixed MurmurHash3-style, then
 * folded into both lanes with different rotations and multipliers), finished by
 * cross-lane multiply-xorshift rounds so every input bit reaches the high bits HyperLogLog
 * reads. Safe non-negative integers are hashed from their 64-bit value through four
 * Feistel multiply-xorshift rounds (each invertible, so distinct integers never collide);
 * any other number is hashed as its decimal string. (An earlier FNV-1a 64 over UTF-8 was
 * correct but ~2× slower: its per-byte 64-bit multiply is a long dependency chain.)
 * The result lands in `HASH` ([high, low] unsigned 32-bit halves) — a typed array, since
 * passing 32-bit values as arguments or module variables would box them — and is read
 * right after the call; `hash64()` packs it into a bigint for tests and diagnostics.
 *
 * `hash30(value)` — a cheap 30-bit hash for Space-Saving's index table.
 */

/** Output of `hashInto`: [high 32 bits, low 32 bits], unsigned. */
export const HASH = new Uint32Array(2);

const TWO32 = 4294967296;

/** Four Feistel rounds on (hi, lo) into HASH: a bijection on 64 bits. */
function mix64(hi: number, lo: number): void {
  let h1 = Math.imul(hi ^ (lo >>> 16), 0x85ebca6b);
  let h2 = Math.imul(lo ^ (h1 >>> 13), 0xc2b2ae35);
  h1 = Math.imul(h1 ^ (h2 >>> 16), 0x27d4eb2f);
  h2 = Math.imul(h2 ^ (h1 >>> 15), 0x165667b1);
  h1 = Math.imul(h1 ^ (h2 >>> 13), 0x85ebca6b);
  h2 = Math.imul(h2 ^ (h1 >>> 16), 0xc2b2ae35);
  h1 = Math.imul(h1 ^ (h2 >>> 16), 0x27d4eb2f);
  h2 = Math.imul(h2 ^ (h1 >>> 15), 0x165667b1);
  HASH[0] = h1 ^ (h2 >>> 16);
  HASH[1] = h2;
}

function hashString(s: string): void {
  const n = s.length;
  let h1 = 0x9747b28c ^ n;
  let h2 = 0x1b873593 ^ n;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h1 ^= k;
    h1 = (Math.imul((h1 << 13) | (h1 >>> 19), 5) + 0xe6546b64) | 0;
    h2 ^= k;
    h2 = (Math.imul((h2 << 17) | (h2 >>> 15), 9) + 0x38b34ae5) | 0;
  }
  if (i < n) {
    let k = Math.imul(s.charCodeAt(i), 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h1 ^= k;
    h2 ^= (k << 7) | (k >>> 25);
  }
  h1 = Math.imul(h1 ^ (h2 >>> 16), 0x85ebca6b);
  h2 = Math.imul(h2 ^ (h1 >>> 13), 0xc2b2ae35);
  h1 = Math.imul(h1 ^ (h2 >>> 16), 0x27d4eb2f);
  h2 = Math.imul(h2 ^ (h1 >>> 15), 0x165667b1);
  HASH[0] = h1 ^ (h2 >>> 16);
  HASH[1] = h2;
}

/** Hashes `value` into `HASH`. */
export function hashInto(value: string | number): void {
  if (typeof value === 'number') {
    if (value >= 0 && value <= Number.MAX_SAFE_INTEGER && Math.floor(value) === value) {
      const lo = value >>> 0;
      mix64((value - lo) / TWO32, lo ^ 0x7f4a7c15);
      return;
    }
    hashString(String(value));
    return;
  }
  hashString(value);
}

/** The 64-bit hash of `value` as a bigint (tests, diagnostics; allocates). */
export function hash64(value: string | number): bigint {
  hashInto(value);
  return (BigInt(HASH[0]!) << 32n) | BigInt(HASH[1]!);
}

/** A cheap 30-bit hash for hash tables, in Smi range (no boxing). */
export function hash30(value: string | number): number {
  let h: number;
  if (typeof value === 'number') {
    if ((value | 0) === value) h = value;
    else {
      hashInto(value);
      h = HASH[0]! ^ HASH[1]!;
    }
  } else {
    const n = value.length;
    h = 0x9747b28c ^ n;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      let k = value.charCodeAt(i) | (value.charCodeAt(i + 1) << 16);
      k = Math.imul(k, 0xcc9e2d51);
      k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
      h ^= k;
      h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
    }
    if (i < n) h ^= Math.imul(value.charCodeAt(i), 0xcc9e2d51);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}

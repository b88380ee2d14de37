/** Splits `items` into chunks of at most `size` (IN lists and multi-row inserts stay under the engine's parameter limit). */
export function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

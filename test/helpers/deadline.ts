/**
 * `promise`, or `fallback` once `ms` have passed, whichever comes first. Unlike a bare
 * `Promise.race` with a `setTimeout`, the timer is cleared as soon as the race is decided,
 * so the file leaves no timer running (test/setup/leaks.ts fails files that do).
 */
export async function orAfter<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<F>((resolve) => {
        timer = setTimeout(() => resolve(fallback), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The vitest settings the leak check (test/setup/leaks.ts) depends on, shared by
 * vitest.config.ts and the fixture config that proves the check can fail
 * (test/fixtures/leaks/vitest.config.ts).
 * - setupFiles: the check itself, loaded before every test file.
 * - pool 'forks' + isolate: each test file runs in a process of its own, so
 *   process.getActiveResourcesInfo() sees only that file's handles (in a worker thread it
 *   would still see only its thread's, but a reused worker would carry the last file's).
 * - sequence.hooks 'stack': afterAll hooks run in reverse order of registration, so the
 *   check, registered first, runs after the file's own teardown.
 */
export const leakCheck = {
  setupFiles: [new URL('./leaks.ts', import.meta.url).pathname],
  pool: 'forks' as const,
  isolate: true,
  sequence: { hooks: 'stack' as const },
};

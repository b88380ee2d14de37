/**
 * Fails a test FILE that leaves behind what it opened: a timer, a socket, a server, a
 * child process, a pending fs request. Loaded through `setupFiles` by every project of
 * vitest.config.ts (settings in leak-check.config.ts).
 *
 * How it works: vitest runs each test file in a process of its own (`pool: 'forks'`,
 * `isolate: true`), so `process.getActiveResourcesInfo()` sees exactly this file's
 * handles. The baseline is taken here, when the setup file is loaded — before the test
 * file is imported — so resources opened at module level count too; for a trivial file
 * it is the worker's own stdio/IPC pipes (`PipeWrap x4`). The `afterAll` below is
 * registered before any hook of the test file and hooks run as a stack
 * (`sequence.hooks: 'stack'`), so it runs after all of the file's own teardown.
 *
 * Closes are asynchronous (a socket's handle goes away on a later tick; vitest's own
 * task-update timer lives ~100 ms), so the check polls for up to GRACE_MS for the counts
 * to come back to the baseline before it fails, naming each leaked type and count.
 *
 * Only ref'ed handles and timers are listed by Node (an unref'ed timer does not keep the
 * process alive and is not reported), which is also the line drawn here.
 */
import { afterAll } from 'vitest';
import { countResources, describeCounts, leakedBeyond } from './leak-report.ts';

const GRACE_MS = 2_000;
const POLL_MS = 20;

// Captured now: a test that leaves fake timers installed must not stall the check.
const realSetTimeout = globalThis.setTimeout;
const baseline = countResources(process.getActiveResourcesInfo());

afterAll(
  async () => {
    let leaked = leakedBeyond(baseline, countResources(process.getActiveResourcesInfo()));
    for (let waited = 0; leaked.size > 0 && waited < GRACE_MS; waited += POLL_MS) {
      await new Promise<void>((resolve) => realSetTimeout(resolve, POLL_MS));
      leaked = leakedBeyond(baseline, countResources(process.getActiveResourcesInfo()));
    }
    if (leaked.size > 0) {
      throw new Error(
        `test file leaked resources still open ${GRACE_MS} ms after its last test: ` +
          `${describeCounts(leaked)} (baseline before the file: ${describeCounts(baseline)}). ` +
          'Close servers, sockets, clients and child processes and clear timers in afterEach/afterAll.',
      );
    }
  },
  // No timeout: vitest would arm a timer of its own for this hook, which would count as a
  // leak; the loop above is bounded by GRACE_MS already.
  0,
);

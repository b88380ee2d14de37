/**
 * Crash-test child for snapshot files: writes ~16 MB snapshots in a loop into the
 * directory at argv[2] and prints `WROTE <n>` only after `write` resolved (the file is
 * durable). The test kills it with SIGKILL mid-write and checks that every snapshot file
 * left verifies, and that no acknowledged one is lost.
 */
import { encodeSnapshot, SnapshotStore } from '../../src/streaming/index.ts';

const store = new SnapshotStore(process.argv[2]!, 2);
const big = new Float64Array(2_000_000);
for (let n = 1; ; n++) {
  big.fill(n);
  const snapshot = encodeSnapshot(
    {
      createdAt: new Date().toISOString(),
      log: 'sqlite',
      group: 'g',
      positions: { 0: n },
      handlers: ['x'],
      handled: n,
    },
    { processor: { recent: [] }, handlers: { n, big } },
  );
  await store.write(snapshot);
  process.stdout.write(`WROTE ${n}\n`);
}

/**
 * Crash-test child for the embedded event log: appends batches forever to the SQLite log
 * at argv[2] and prints `ACK <id>` for every event only after `append` resolved. The
 * test kills it with SIGKILL and checks that every acknowledged id is in the log.
 */
import { SqliteEventLog } from '../../src/streaming/index.ts';

const log = new SqliteEventLog(process.argv[2]!);
let n = 0;
for (;;) {
  const batch = Array.from({ length: 10 }, () => {
    const id = `e-${++n}`;
    return { id, key: `user-${n % 7}`, ts: Date.now(), body: JSON.stringify({ n }) };
  });
  await log.append(batch);
  process.stdout.write(batch.map((b) => `ACK ${b.id}\n`).join(''));
}

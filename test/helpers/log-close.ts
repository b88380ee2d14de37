/**
 * Child for the embedded event log's close test: a consumer closed while its loop lets the
 * event loop turn (after a batch that ran over the loop's 10 ms slice) must still finish
 * closing in a process with nothing else to do. Prints `CLOSED` when `close()` resolved;
 * before the fix the loop went to sleep on an unref'd timer and the process exited first.
 */
import type { LogConsumer } from '../../src/streaming/index.ts';
import { SqliteEventLog } from '../../src/streaming/index.ts';

const log = new SqliteEventLog(process.argv[2]!);
await log.append([1, 2, 3].map((n) => ({ id: `e-${n}`, key: 'u', ts: n, body: '{}' })));
const consumer: LogConsumer = await log.consume(
  'g',
  async () => {
    const end = performance.now() + 15; // longer than the loop's slice: it turns the event loop next
    while (performance.now() < end);
    // Runs during that turn, before the loop reads again.
    setImmediate(
      () =>
        void consumer.close().then(async () => {
          await log.close();
          process.stdout.write('CLOSED\n');
        }),
    );
  },
  { from: 'earliest' },
);

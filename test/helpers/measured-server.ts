/**
 * A Backbeat server in a child process whose memory a test can measure on its own (no
 * test client in the same heap): run with `--expose-gc` and an IPC channel; it prints
 * `READY <url>` and answers each `"measure"` message with `process.memoryUsage()` taken
 * after four full GCs. Env: `BACKBEAT_TEST_ENV` (JSON of SPEC §2 variables).
 */
import { startTestServer } from './server.ts';

const env = JSON.parse(process.env['BACKBEAT_TEST_ENV'] ?? '{}') as Record<string, string>;
const srv = await startTestServer(env);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !process.send) throw new Error('run with --expose-gc and an IPC channel');
process.on('message', (msg) => {
  if (msg === 'measure') {
    for (let i = 0; i < 4; i++) gc();
    process.send!(process.memoryUsage());
  } else if (msg === 'stop') {
    void srv.close().then(() => process.exit(0));
  }
});
process.stdout.write(`READY ${srv.url}\n`);

/**
 * A Backbeat node (like `src/main.ts`, configured from the environment) that snapshots its
 * stream handlers every 500 events: the kill -9 test of test/e2e/streaming-snapshot.test.ts.
 */
import { App } from '../../src/app.ts';
import { loadConfig } from '../../src/core/config/index.ts';

const app = await new App(loadConfig(process.env), {
  streaming: { snapshotEveryEvents: 500, snapshotEveryMs: 1_000 },
}).start();
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

/**
 * Where the embedded stream's time goes, in one process without HTTP: the intake alone
 * (validation + normalization + the durable SQLite append, handlers stopped), then the
 * handlers alone (the processor catching up on what the intake wrote). Prints
 * `RESULT {"intakePerSec","handlersPerSec"}`. Usage: node bench/streaming/intake.ts [N=200000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../../src/app.ts';
import { loadConfig } from '../../src/core/config/index.ts';
import { mulberry32 } from '../../src/core/random/index.ts';

const N = Number(process.argv[2] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'bb-intake-'));
const app = await new App(
  loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dir,
    JWT_SECRET: 'bench-secret-0123456789abcdef0123456789',
    LOG_LEVEL: 'warn',
  }),
).start();
const rnd = mulberry32(42);
const t0 = Date.now() - 3_600_000;
const batches: unknown[][] = [];
for (let b = 0; b < N / 1000; b++) {
  const events = [];
  for (let i = 0; i < 1000; i++) {
    const track = Math.floor(5000 * rnd() ** 3);
    events.push({
      type: 'track.played',
      userId: `u${Math.floor(rnd() * 10_000)}`,
      ts: t0 + b * 1000 + i,
      data: {
        trackId: `t${track}`,
        artistId: `a${track % 500}`,
        durationMs: 200_000,
        playedMs: Math.floor(rnd() * 200_000),
      },
    });
  }
  batches.push(events);
}
await app.streaming.pauseProcessing();
let t = performance.now();
for (const b of batches) await app.streaming.accept(b, { source: 'http' });
const intakePerSec = Math.round(N / ((performance.now() - t) / 1000));
t = performance.now();
await app.streaming.resumeProcessing();
await app.streaming.caughtUp(600_000);
const handlersPerSec = Math.round(N / ((performance.now() - t) / 1000));
await app.close({ drain: false });
rmSync(dir, { recursive: true, force: true });
console.log(`RESULT ${JSON.stringify({ events: N, intakePerSec, handlersPerSec })}`);
process.exit(0);

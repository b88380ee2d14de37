/**
 * A real Backbeat server process (bench/peers/backbeat.ts) for the event-stream benchmarks
 * that drive it over HTTP (ingest.ts, insight.ts): started with BENCH_SERVER_NODE_ARGS,
 * an admin token for it, and a clean stop (SIGINT, so `--cpu-prof` can write its profile).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { signHs256 } from '../../src/core/auth/index.ts';

const ROOT = join(import.meta.dirname, '../..');
const SECRET = 'bench-secret-0123456789abcdef0123456789';

export interface BenchPeer {
  url: string;
  /** Authorization (admin) and JSON content type. */
  headers: Record<string, string>;
  stop: () => Promise<void>;
}

export async function startBackbeatPeer(): Promise<BenchPeer> {
  const server = spawn(
    process.execPath,
    [...(process.env['BENCH_SERVER_NODE_ARGS'] ?? '').split(' ').filter(Boolean), 'bench/peers/backbeat.ts'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_SECRET: SECRET } },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const token = await signHs256(SECRET, { sub: 'bench', scope: 'admin' }, 3600);
  return {
    url: `http://127.0.0.1:${port}`,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    stop: async () => {
      server.kill('SIGINT');
      await new Promise((r) => server.once('exit', r));
    },
  };
}

/**
 * `npm run bench:failover`: how long after a SIGKILL a dead node stops being offered by
 * GET /v1/connect, with default HEARTBEAT_INTERVAL_MS / NODE_TTL_MS, 3 nodes on Redis
 * (REDIS_URL, default local). Repeats 3 times; writes bench/results/failover.json.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signHs256 } from '../src/core/auth/index.ts';
import { freePort, NodeProcess } from '../test/helpers/processes.ts';

const SECRET = 'bench-secret-0123456789abcdef0123456789';
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const admin = await signHs256(SECRET, { sub: 'ops', scope: 'admin' }, 3600);
const runs: number[] = [];
for (let r = 0; r < 3; r++) {
  const prefix = `failover-${process.pid}-${r}:`;
  const nodes: NodeProcess[] = [];
  for (const id of ['fa', 'fb', 'fc'])
    nodes.push(
      await new NodeProcess(await freePort(), {
        NODE_ID: id,
        JWT_SECRET: SECRET,
        REDIS_URL,
        REDIS_PREFIX: prefix,
        BALANCER_STRATEGY: 'round-robin',
      }).start(),
    );
  const [victim, watcher] = [nodes[0]!, nodes[1]!];
  // wait until all three are registered
  for (;;) {
    const n = (
      (await (
        await fetch(`${watcher.url}/v1/admin/nodes`, { headers: { authorization: `Bearer ${admin}` } })
      ).json()) as { nodes: unknown[] }
    ).nodes.length;
    if (n === 3) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  await victim.kill();
  const killed = performance.now();
  let gone = 0;
  while (performance.now() - killed < 30_000) {
    const picks = await Promise.all(
      Array.from(
        { length: 6 },
        async () => ((await (await fetch(`${watcher.url}/v1/connect`)).json()) as { node: string }).node,
      ),
    );
    if (!picks.includes('fa')) {
      gone = performance.now() - killed;
      break;
    }
    await new Promise((res) => setTimeout(res, 25));
  }
  runs.push(Math.round(gone));
  console.log(`run ${r + 1}: dead node gone from /v1/connect after ${Math.round(gone)} ms`);
  for (const n of nodes) await n.stop();
}
const sorted = [...runs].sort((a, b) => a - b);
const result = {
  what: 'SIGKILL → dead node no longer returned by GET /v1/connect (defaults: HEARTBEAT_INTERVAL_MS 2000, NODE_TTL_MS 6000)',
  runsMs: runs,
  medianMs: sorted[1],
  date: new Date().toISOString(),
};
writeFileSync(join(import.meta.dirname, 'results/failover.json'), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result));

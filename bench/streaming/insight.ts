/**
 * Event-to-insight latency under load: a real Backbeat server process (bench/peers/backbeat.ts)
 * is offered RATE play events per second (batches of 1,000 from 4 keep-alive connections,
 * paced by a schedule, not by the answers) for SECONDS; meanwhile, after the load's first
 * WARMUP_MS (1 s: the first probes measured the JIT and the handlers' first allocations,
 * 100–300 ms at 10k/s against < 40 ms afterwards), every 50 ms a probe play of a track
 * nobody else plays is posted alone, and `GET /v1/tracks/{id}/stats` is polled
 * (every 2 ms) from its 202 until it shows the play: that wait is the probe's latency (the
 * 202 is durable, so this is log → processor → handler → query). Prints `RESULT {json}`:
 * insightP50ms / insightP99ms / insightMaxMs over the probes, achievedPerSec (events
 * acknowledged per second during the load; below RATE when intake cannot keep up), probes.
 * Usage: node bench/streaming/insight.ts [RATE=50000] [SECONDS=10]
 */
import { startBackbeatPeer } from './peer.ts';

const RATE = Number(process.argv[2] ?? 50_000);
const SECONDS = Number(process.argv[3] ?? 10);
const BATCH = 1000;
const C = 4;

const { url, headers, stop } = await startBackbeatPeer();

// The same shape of plays as the ingest benchmark: Zipf-ish over 5,000 tracks, 10,000 users.
let seed = 7;
const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const total = RATE * SECONDS;
const t0 = Date.now() - 86_400_000;
const bodies: string[] = [];
for (let b = 0; b < total / BATCH; b++) {
  const events = [];
  for (let i = 0; i < BATCH; i++) {
    const track = Math.floor(5000 * rnd() ** 3);
    events.push({
      type: 'track.played',
      userId: `u${Math.floor(rnd() * 10_000)}`,
      ts: t0 + b * BATCH + i,
      data: { trackId: `t${track}`, artistId: `a${track % 500}`, durationMs: 200_000, playedMs: 150_000 },
    });
  }
  bodies.push(JSON.stringify(events));
}

const post = async (body: string): Promise<number> => {
  const res = await fetch(`${url}/v1/events`, { method: 'POST', headers, body });
  const json = (await res.json()) as { accepted?: number };
  if (res.status !== 202) throw new Error(`POST /v1/events → ${res.status} ${JSON.stringify(json)}`);
  return json.accepted ?? 0;
};

let acked = 0;
let loadDone = false;
const started = performance.now();
const intervalMs = (BATCH / RATE) * 1000;
let next = 0;
const loaders = Array.from({ length: C }, async () => {
  while (next < bodies.length) {
    const k = next++;
    // Paced: batch k is due at k × interval; a loader that is behind sends at once.
    const wait = started + k * intervalMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    acked += await post(bodies[k]!);
  }
});
const loadEnd = Promise.all(loaders).then(() => {
  loadDone = true;
  return performance.now();
});

const latencies: number[] = [];
const WARMUP_MS = 1000;
await new Promise((r) => setTimeout(r, WARMUP_MS));
let probe = 0;
const probes: Promise<void>[] = [];
while (!loadDone) {
  const id = `probe-${probe++}`;
  probes.push(
    (async () => {
      await post(
        JSON.stringify([
          {
            type: 'track.played',
            userId: `probe-user-${id}`,
            ts: Date.now(),
            data: { trackId: id, artistId: 'probe-artist', durationMs: 200_000, playedMs: 190_000 },
          },
        ]),
      );
      const t = performance.now();
      for (;;) {
        const stats = (await (await fetch(`${url}/v1/tracks/${id}/stats`, { headers })).json()) as {
          plays: number;
        };
        if (stats.plays >= 1) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      latencies.push(performance.now() - t);
    })(),
  );
  await new Promise((r) => setTimeout(r, 50));
}
const loadEndedAt = await loadEnd;
await Promise.all(probes);
await stop();
latencies.sort((a, b) => a - b);
const q = (p: number) =>
  Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]! * 10) / 10;
console.log(
  `RESULT ${JSON.stringify({
    offeredPerSec: RATE,
    achievedPerSec: Math.round(acked / ((loadEndedAt - started) / 1000)),
    probes: latencies.length,
    insightP50ms: q(0.5),
    insightP99ms: q(0.99),
    insightMaxMs: q(1),
  })}`,
);
process.exit(0);

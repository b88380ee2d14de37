/**
 * Per-handler snapshot costs without the app: feeds N synthetic play events (U users,
 * 5,000 tracks, as bench/streaming/snapshot.ts) into the plays and trending handlers, then
 * R times: snapshot() + v8.serialize (CPU ms), v8.deserialize + restore() into a fresh
 * handler (CPU ms), bytes. Prints `RESULT {…}` with the median of each.
 * Usage: node bench/streaming/snapshot-parts.ts [N=300000] [U=20000] [R=5]
 */
import { deserialize, serialize } from 'node:v8';
import { mulberry32 } from '../../src/core/random/index.ts';
import type { StreamEvent } from '../../src/streaming/events/index.ts';
import { PlaysHandler } from '../../src/streaming/handlers/plays.ts';
import { TrendingHandler } from '../../src/streaming/handlers/trending.ts';
import type { EventHandler, HandlerContext } from '../../src/streaming/processor.ts';

const N = Number(process.argv[2] ?? 300_000);
const U = Number(process.argv[3] ?? 20_000);
const R = Number(process.argv[4] ?? 5);
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const make = (): Record<string, EventHandler> => ({
  plays: new PlaysHandler(),
  trending: new TrendingHandler({}),
});
const handlers = make();
const rnd = mulberry32(42);
const t0 = Date.now() - 6 * 3_600_000;
const ctx = { replay: true } as unknown as HandlerContext;
for (let b = 0; b < N / 1000; b++) {
  for (let i = 0; i < 1000; i++) {
    const track = Math.floor(5000 * rnd() ** 3);
    const e = {
      id: `e${b}-${i}`,
      type: i % 10 === 9 ? 'track.liked' : 'track.played',
      userId: `u${Math.floor(rnd() * U)}`,
      ts: t0 + b * 20 + i,
      data: {
        trackId: `t${track}`,
        artistId: `a${track % 500}`,
        durationMs: 200_000,
        playedMs: Math.floor(rnd() * 200_000),
      },
    } as unknown as StreamEvent;
    for (const h of Object.values(handlers))
      if (h.types === undefined || h.types.has(e.type)) void h.handle(e, ctx);
  }
}
const out: Record<string, { MB: number; serializeCpuMs: number; restoreCpuMs: number }> = {};
for (const [name, h] of Object.entries(handlers)) {
  const ser: number[] = [];
  const res: number[] = [];
  let bytes = 0;
  for (let r = 0; r < R; r++) {
    let c = cpu();
    const buf = serialize(h.snapshot!());
    ser.push(cpu() - c);
    bytes = buf.length;
    const fresh = make()[name]!;
    c = cpu();
    fresh.restore!(deserialize(buf));
    res.push(cpu() - c);
  }
  out[name] = {
    MB: Math.round((bytes / 2 ** 20) * 100) / 100,
    serializeCpuMs: Math.round(median(ser)),
    restoreCpuMs: Math.round(median(res)),
  };
}
console.log(`RESULT ${JSON.stringify({ events: N, users: U, repeats: R, parts: out })}`);

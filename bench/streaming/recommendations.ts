/**
 * Online-update and query latency of the recommenders:
 * `node_modules/.bin/node bench/streaming/recommendations.ts [--warm N] [--updates N] [--queries N] [--seed N]`.
 *
 * Warms each model with the first ~200k interactions of a seeded synthetic stream, then
 * times 100k further `observe` calls one by one (process.hrtime.bigint around each call)
 * and 10k `recommend(user, 10, now)` calls for users of the stream; then, for item-knn, trains
 * its latent factors once (`retrainFactors`, timed) and times the same queries with them
 * (the fold-in and the factor scores: what a query costs in the service). Prints p50/p99/max in
 * microseconds per model, then one line `RESULT {…}` (item-knn) for tools. Target: item-knn
 * update p99 < 1 ms.
 */
import { parseArgs } from 'node:util';
import {
  generateListening,
  ItemKnnRecommender,
  PopularityRecommender,
  type Interaction,
  type Recommender,
} from '../../src/streaming/recommendations/index.ts';

const { values } = parseArgs({
  options: {
    warm: { type: 'string', default: '200000' },
    updates: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '7' },
  },
});
const warm = Number(values.warm);
const updates = Number(values.updates);
const queries = Number(values.queries);

// ~300 interactions per user over 28 days: enough users for warm + timed updates.
let data = generateListening({
  seed: Number(values.seed),
  users: Math.ceil((warm + updates) / 250),
  days: 28,
});
while (data.interactions.length < warm + updates)
  data = generateListening({ seed: Number(values.seed), users: data.users.length * 2, days: 28 });
const stream = data.interactions;
const users = [...new Set(stream.slice(0, warm).map((i) => i.userId))];
const now = (stream[warm + updates - 1] as Interaction).ts;

interface Quantiles {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Calls that took longer than 1 ms (on a shared machine: mostly preemption and GC). */
  over1ms: number;
}
function quantiles(ns: BigInt64Array): Quantiles {
  const s = Float64Array.from(ns, (x) => Number(x) / 1000).sort();
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return {
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    p999: round(at(0.999)),
    max: round(s[s.length - 1] as number),
    over1ms: s.filter((x) => x > 1000).length,
  };
}
const round = (x: number): number => Math.round(x * 100) / 100;

function bench(model: Recommender): {
  update: Quantiles;
  recommend: Quantiles;
  warmS: number;
  factors?: { trainMs: number; recommend: Quantiles };
} {
  const t0 = performance.now();
  for (let i = 0; i < warm; i++) model.observe(stream[i] as Interaction);
  const warmS = (performance.now() - t0) / 1000;
  const up = new BigInt64Array(updates);
  for (let k = 0; k < updates; k++) {
    const i = stream[warm + k] as Interaction;
    const a = process.hrtime.bigint();
    model.observe(i);
    up[k] = process.hrtime.bigint() - a;
  }
  const rq = new BigInt64Array(queries);
  let sink = 0;
  for (let k = 0; k < queries; k++) {
    const u = users[(k * 7919) % users.length] as string;
    const a = process.hrtime.bigint();
    sink += model.recommend(u, 10, now).length;
    rq[k] = process.hrtime.bigint() - a;
  }
  if (sink === 0) throw new Error('no recommendations at all');
  const result = { update: quantiles(up), recommend: quantiles(rq), warmS };
  if (!(model instanceof ItemKnnRecommender)) return result;
  const t1 = performance.now();
  model.retrainFactors();
  const trainMs = performance.now() - t1;
  const fq = new BigInt64Array(queries);
  for (let k = 0; k < queries; k++) {
    const u = users[(k * 7919) % users.length] as string;
    const a = process.hrtime.bigint();
    sink += model.recommend(u, 10, now).length;
    fq[k] = process.hrtime.bigint() - a;
  }
  return { ...result, factors: { trainMs, recommend: quantiles(fq) } };
}

console.log(
  `stream: ${stream.length} synthetic interactions, ${data.users.length} users, ${data.tracks.length} tracks; warm ${warm}, timed ${updates} updates, ${queries} queries; ${process.version}`,
);
const out: Record<string, ReturnType<typeof bench>> = {};
for (const model of [new ItemKnnRecommender(), new PopularityRecommender()]) {
  const r = bench(model);
  out[model.name] = r;
  console.log(
    `${model.name.padEnd(10)}  warm ${(warm / r.warmS / 1000).toFixed(0)}k/s  observe p50 ${r.update.p50} µs  p99 ${r.update.p99} µs  p99.9 ${r.update.p999} µs  max ${r.update.max} µs (${r.update.over1ms} > 1 ms)  |  recommend p50 ${r.recommend.p50} µs  p99 ${r.recommend.p99} µs  max ${r.recommend.max} µs`,
  );
}
const knn = out['item-knn'] as ReturnType<typeof bench>;
console.log(
  `RESULT ${JSON.stringify({
    updates,
    updateP50us: knn.update.p50,
    updateP99us: knn.update.p99,
    updateP999us: knn.update.p999,
    updateMaxUs: knn.update.max,
    updatesOver1ms: knn.update.over1ms,
    recommendP50us: knn.recommend.p50,
    recommendP99us: knn.recommend.p99,
    recommendMaxUs: knn.recommend.max,
    factorTrainMs: Math.round(knn.factors?.trainMs ?? NaN),
    recommendWithFactorsP50us: knn.factors?.recommend.p50,
    recommendWithFactorsP99us: knn.factors?.recommend.p99,
    popularityUpdateP99us: out['popularity']?.update.p99,
    popularityRecommendP99us: out['popularity']?.recommend.p99,
  })}`,
);
if (knn.update.p99 >= 1000) process.exitCode = 1;

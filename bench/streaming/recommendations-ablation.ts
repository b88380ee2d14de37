/**
 * What each part of item-knn buys, on both datasets:
 * `node bench/streaming/recommendations-ablation.ts [--seed N] [--lastfm-seed N] [--only NAME,…]`.
 *
 * For each variant (ItemKnnOptions overrides of the defaults): the synthetic evaluation of
 * `npm run eval` (seed 42, 1,200 users, 28 days, leave-last-out, hit-rate@10 and precision@10)
 * and the Last.fm 2K development-half evaluation (20 % of each user's artists held out,
 * precision@10 and hit-rate@10), plus µs per observe over each stream. Prints a markdown
 * table (the README's ablation table) and one `RESULT {…}` line.
 */
import { parseArgs } from 'node:util';
import {
  evaluate,
  evaluateHoldout,
  generateListening,
  ItemKnnRecommender,
  leaveLastOut,
  loadUserArtists,
  metricsOf,
  splitListening,
  DAY_MS,
  type ItemKnnOptions,
} from '../../src/streaming/recommendations/index.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '42' },
    'lastfm-seed': { type: 'string', default: '1' },
    only: { type: 'string' },
  },
});
const FOREVER = 3650 * DAY_MS;
const VARIANTS: [string, ItemKnnOptions][] = [
  ['default', {}],
  ['session only (longWeight 0)', { longWeight: 0 }],
  ['long-term only (longWeight 1)', { longWeight: 1 }],
  ['no trend (trendWeight 0, longTrendWeight 0)', { trendWeight: 0, longTrendWeight: 0 }],
  ['no popularity fill', { popularityFill: false }],
  ['no decay (half-lives 10 years)', { halfLifeMs: FOREVER, longHalfLifeMs: FOREVER }],
  ['no pruning (maxNeighbors 5,000)', { maxNeighbors: 5000 }],
  ['more edges (pairWindow 10, longPairs 48)', { pairWindow: 10, longPairs: 48 }],
];
const only = values.only?.split(',');
const seed = Number(values.seed);
const data = generateListening({ seed, users: 1200, days: 28 });
const cases = leaveLastOut(data.interactions, {
  holdout: 5,
  isRelevant: (i) => i.kind === 'play' && (i.completion ?? 1) >= 0.8 && data.inTaste(i.userId, i.trackId),
});
const split = splitListening(loadUserArtists(), { seed: Number(values['lastfm-seed']) });
const f = (x: number): string => x.toFixed(3);
const out: Record<string, unknown>[] = [];
console.log(
  '| variant | synthetic hit-rate@10 | synthetic precision@10 | Last.fm precision@10 | Last.fm hit-rate@10 | observe µs/play (synthetic / Last.fm) |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [name, o] of VARIANTS) {
  if (only && !only.some((x) => name.startsWith(x))) continue;
  const syn = metricsOf(evaluate(data.interactions, cases, [new ItemKnnRecommender(o)], 10), 'item-knn');
  const m = new ItemKnnRecommender(o);
  const t0 = performance.now();
  for (const i of data.interactions) m.observe(i);
  const synUs = ((performance.now() - t0) * 1000) / data.interactions.length;
  const lfm = evaluateHoldout(split, [() => new ItemKnnRecommender(o)]).models[0]!;
  console.log(
    `| ${name} | ${f(syn.hitRate)} | ${f(syn.precision)} | ${f(lfm.precision)} | ${f(lfm.hitRate)} | ${synUs.toFixed(1)} / ${lfm.observeUsPerPlay.toFixed(1)} |`,
  );
  out.push({ name, options: o, synthetic: syn, synUs, lastfm: lfm });
}
console.log(`RESULT ${JSON.stringify(out)}`);

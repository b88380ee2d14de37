import { avg, count, distinct, topK, tumbling, WindowedAggregator } from './index.ts';
interface Play { trackId: string; userId: string; playedMs: number }
export const agg = new WindowedAggregator({
  window: tumbling(60_000),
  key: (e: Play) => e.trackId,
  aggregations: { plays: count(), listeners: distinct((e) => e.userId), top: topK((e) => e.trackId, 10), avgMs: avg((e) => e.playedMs) },
  onResult: (r) => {
    const n: number = r.values.plays;
    const t: string | undefined = r.values.top[0]?.item;
    void n; void t;
  },
});

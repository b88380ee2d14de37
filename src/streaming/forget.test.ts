/**
 * GDPR erasure in the handlers' state (SPEC §7): each handler forgets one user and keeps
 * everyone else exactly as before; the window engines drop a key without emitting it.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../core/observability/index.ts';
import { ManualClock } from '../core/time/index.ts';
import type { StreamEvent } from './events/index.ts';
import { PlaysHandler } from './handlers/plays.ts';
import { RecommendationsHandler } from './handlers/recommendations.ts';
import { TrendingHandler } from './handlers/trending.ts';
import { StreamingMetrics } from './metrics.ts';
import { ItemKnnRecommender } from './recommendations/index.ts';
import { count, session, tumbling, WindowedAggregator } from './windows/index.ts';

const T0 = Date.UTC(2026, 0, 1);
let n = 0;
const play = (userId: string, trackId: string, ts: number): StreamEvent => ({
  id: `e${n++}`,
  type: 'track.played',
  v: 1,
  userId,
  ts,
  receivedAt: ts,
  data: { trackId, artistId: `a-${trackId}`, durationMs: 100_000, playedMs: 95_000 },
  trace: {},
});
const ctx = { replay: false, owner: true, partition: 0, offset: 0 };

describe('forgetting a user', () => {
  it('plays, recommendations and trending drop the user; the others and the aggregates stay', () => {
    const metrics = new StreamingMetrics(new Registry());
    const clock = new ManualClock(T0 + 3_600_000);
    const plays = new PlaysHandler({}, metrics);
    const recs = new RecommendationsHandler({
      model: new ItemKnnRecommender(),
      clock,
      metrics,
      logger: createLogger('silent'),
      publish: async () => undefined,
      pushDebounceMs: 1000,
      pushItems: 10,
      maxPendingPushes: 100,
      maxPushesPerSec: 100,
    });
    const trending = new TrendingHandler({ metrics, sessionGapMs: 60_000 });
    const events = ['gone', 'kept'].flatMap((u, j) =>
      Array.from({ length: 6 }, (_, i) => play(u, `t${(i + j) % 4}`, T0 + i * 1000 + j)),
    );
    events.push(play('kept', 't9', T0 + 10 * 60_000)); // closes the first sessions
    for (const e of events) for (const h of [plays, recs, trending]) h.handle(e, ctx);
    expect(trending.sessionsOf('gone')).toHaveLength(1);
    const keptRecs = recs.recommend('kept', 5);
    const keptListening = structuredClone(plays.user('kept'));
    const trackPlays = plays.track('t0')!.plays;

    for (const h of [plays, recs, trending]) h.forget('gone');
    for (const h of [plays, recs, trending]) h.forget('gone'); // idempotent
    expect(plays.user('gone')).toBeUndefined();
    expect(recs.exportUser('gone')).toEqual({ known: false, updatedAt: null, history: [] });
    expect(recs.recommend('gone', 5).updatedAt).toBeNull();
    expect(trending.sessionsOf('gone')).toEqual([]);
    expect(plays.user('kept')).toEqual(keptListening);
    expect(recs.recommend('kept', 5)).toEqual(keptRecs);
    expect(trending.sessionsOf('kept')).toHaveLength(1);
    expect(plays.track('t0')!.plays).toBe(trackPlays); // aggregates hold no user id: they stay
    recs.close();
    trending.close();
  });

  it('a session window engine drops the key without a result; a pane engine drops its cells', () => {
    const results: string[] = [];
    const sessions = new WindowedAggregator({
      window: session(100),
      key: (e: { k: string }) => e.k,
      aggregations: { n: count<{ k: string }>() },
      onResult: (r) => results.push(`${r.key}:${r.values.n}`),
    });
    const panes = new WindowedAggregator({
      window: tumbling(1000),
      key: (e: { k: string }) => e.k,
      aggregations: { n: count<{ k: string }>() },
      onResult: (r) => results.push(`pane ${r.key}:${r.values.n}`),
    });
    for (const [k, t] of [
      ['a', 0],
      ['b', 10],
      ['a', 50],
      ['b', 60],
    ] as const) {
      sessions.add({ k }, t);
      panes.add({ k }, t);
    }
    expect(sessions.stats.openCells).toBe(2);
    sessions.forgetKey('a');
    panes.forgetKey('a');
    expect(sessions.stats.openCells).toBe(1);
    expect(panes.stats.openCells).toBe(1);
    sessions.flush();
    panes.flush();
    expect(results).toEqual(['b:2', 'pane b:2']);
  });
});

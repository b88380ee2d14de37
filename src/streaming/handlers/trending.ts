import { runSteps, type Steps } from '../snapshots/steps.ts';
import type { StreamEvent } from '../events/index.ts';
import type { StreamingMetrics } from '../metrics.ts';
import type { EventHandler, HandlerContext } from '../processor.ts';
import { arr, bad, finite, header, int, obj, str } from '../snapshots/check.ts';
import {
  count,
  distinct,
  session,
  sliding,
  sum,
  topK,
  tumbling,
  WindowedAggregator,
  type WindowedAggregatorSnapshot,
  type WindowResult,
} from '../windows/index.ts';

interface Play {
  userId: string;
  trackId: string;
  artistId: string;
  playedMs: number;
}

export interface TrendingOptions {
  metrics?: StreamingMetrics;
  /** Bounded out-of-orderness of event time, ms. @default 10_000 */
  outOfOrdernessMs?: number;
  /** Late events within this after a window's end still update it, ms. @default 60_000 */
  graceMs?: number;
  /** Final results kept per window kind. @default 60 */
  keep?: number;
  /** Silence that ends a listening session, ms. @default 30 min */
  sessionGapMs?: number;
}

/** A closed listening session of one user (session window). */
export interface ListeningSession {
  userId: string;
  start: number;
  end: number;
  plays: number;
  listenedMs: number;
}

/** What `latest()` reports of one window kind. */
export interface WindowSummary {
  window: { start: number; end: number };
  revision: number;
  final: boolean;
  values: Record<string, unknown>;
}

const keepLast = <T>(list: T[], item: T, max: number) => {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
};

/**
 * Windowed aggregates of the play stream (src/streaming/windows), event time with
 * watermarks: per minute (tumbling) plays, unique listeners (HyperLogLog) and the top
 * tracks and artists; a 10-minute window sliding by 1 minute of the top tracks ("trending
 * now"); and per-user listening sessions (session windows). Late events within the grace
 * update their window (a new revision); later ones are counted as late and change
 * nothing. Used by the recommendation and, later, the analytics features.
 */
export class TrendingHandler implements EventHandler {
  readonly name = 'trending';
  readonly types: ReadonlySet<string> = new Set(['track.played']);
  readonly #metrics: StreamingMetrics | undefined;
  readonly #keep: number;
  readonly #opts: TrendingOptions;
  #minutes: WindowSummary[] = [];
  #trending: WindowSummary[] = [];
  #sessions: ListeningSession[] = [];
  #aggs: ReturnType<TrendingHandler['build']>;
  #late = 0;

  constructor(opts: TrendingOptions = {}) {
    this.#metrics = opts.metrics;
    this.#keep = opts.keep ?? 60;
    this.#opts = opts;
    this.#aggs = this.build();
  }

  /** The three aggregators; their results go to whichever lists the handler holds when they fire. */
  private build() {
    const opts = this.#opts;
    const timing = { outOfOrdernessMs: opts.outOfOrdernessMs ?? 10_000, graceMs: opts.graceMs ?? 60_000 };
    const onLate = (_e: Play, reason: string) => {
      this.#late++;
      this.#metrics?.windowResults.labels('any', `late_${reason}`).inc();
    };
    const perMinute = new WindowedAggregator({
      window: tumbling(60_000),
      key: () => 'all',
      aggregations: {
        plays: count<Play>(),
        listeners: distinct((e: Play) => e.userId),
        topTracks: topK((e: Play) => e.trackId, 10),
        topArtists: topK((e: Play) => e.artistId, 10),
        listenedMs: sum((e: Play) => e.playedMs),
      },
      ...timing,
      onResult: (r) => this.#record('minute', this.#minutes, r),
      onLate,
    });
    const slidingAgg = new WindowedAggregator({
      window: sliding(10 * 60_000, 60_000),
      key: () => 'all',
      aggregations: {
        plays: count<Play>(),
        listeners: distinct((e: Play) => e.userId),
        topTracks: topK((e: Play) => e.trackId, 20),
      },
      ...timing,
      emit: 'final',
      onResult: (r) => this.#record('trending', this.#trending, r),
      onLate,
    });
    const sessionAgg = new WindowedAggregator({
      window: session(opts.sessionGapMs ?? 30 * 60_000),
      key: (e: Play) => e.userId,
      aggregations: { plays: count<Play>(), listenedMs: sum((e: Play) => e.playedMs) },
      ...timing,
      emit: 'final',
      onResult: (r) => {
        keepLast(
          this.#sessions,
          {
            userId: r.key,
            start: r.window.start,
            end: r.window.end,
            plays: r.values.plays,
            listenedMs: r.values.listenedMs,
          },
          this.#keep,
        );
        this.#metrics?.windowResults.labels('session', 'final').inc();
      },
      onLate,
    });
    return { perMinute, sliding: slidingAgg, session: sessionAgg };
  }

  #record(kind: string, list: WindowSummary[], r: WindowResult<string, Record<string, unknown>>): void {
    const summary = { window: r.window, revision: r.revision, final: r.final, values: r.values };
    // A revision replaces the earlier result of the same window.
    const i = list.findIndex((s) => s.window.start === r.window.start && s.window.end === r.window.end);
    if (i >= 0) list[i] = summary;
    else keepLast(list, summary, this.#keep);
    this.#metrics?.windowResults.labels(kind, r.final ? 'final' : 'update').inc();
  }

  handle(e: StreamEvent, _ctx: HandlerContext): void {
    const d = e.data;
    const play: Play = {
      userId: e.userId,
      trackId: d['trackId'] as string,
      artistId: d['artistId'] as string,
      playedMs: d['playedMs'] as number,
    };
    const a = this.#aggs;
    a.perMinute.add(play, e.ts);
    a.sliding.add(play, e.ts);
    a.session.add(play, e.ts);
  }

  /**
   * GDPR erasure: the user's open session window and closed sessions go. The per-minute and
   * sliding windows are keyed by nothing personal (their unique-listener counts are
   * HyperLogLog sketches: register maxima of hashes, no ids).
   */
  forget(userId: string): void {
    this.#aggs.session.forgetKey(userId);
    for (let i = this.#sessions.length - 1; i >= 0; i--)
      if (this.#sessions[i]!.userId === userId) this.#sessions.splice(i, 1);
  }

  /** The user's closed listening sessions still kept (GDPR export). */
  sessionsOf(userId: string): ListeningSession[] {
    return this.#sessions.filter((s) => s.userId === userId);
  }

  /** Latest results: per-minute windows, the sliding "trending now" window, closed listening sessions, late events. */
  latest(): {
    minutes: WindowSummary[];
    trending: WindowSummary | null;
    sessions: ListeningSession[];
    lateEvents: number;
  } {
    return {
      minutes: this.#minutes.slice(-10),
      trending: this.#trending.at(-1) ?? null,
      sessions: this.#sessions.slice(-10),
      lateEvents: this.#late,
    };
  }

  /** Emits what is open (shutdown). */
  close(): void {
    this.#aggs.perMinute.flush();
    this.#aggs.sliding.flush();
    this.#aggs.session.flush();
  }

  /** The three aggregators' own snapshots and the results kept (minutes, trending, sessions, late count). */
  snapshot(): unknown {
    return runSteps(this.snapshotSteps());
  }

  /** `snapshot()` in steps (snapshots/steps.ts): the processor lets the event loop turn between them. */
  *snapshotSteps(): Steps<unknown> {
    return {
      kind: 'trending',
      version: 1,
      perMinute: yield* this.#aggs.perMinute.snapshotSteps(),
      sliding: yield* this.#aggs.sliding.snapshotSteps(),
      session: yield* this.#aggs.session.snapshotSteps(),
      minutes: this.#minutes,
      trending: this.#trending,
      sessions: this.#sessions,
      late: this.#late,
    };
  }

  /** Restores into fresh aggregators and lists, swapped in only once all of it was accepted. */
  restore(state: unknown): void {
    const s = header(state, 'trending', 1);
    const summaries = (v: unknown, path: string) =>
      arr(v, path, this.#keep).map((x, i) => {
        const o = obj(x, `${path}[${i}]`);
        const w = obj(o['window'], `${path}[${i}].window`);
        if (typeof o['final'] !== 'boolean') bad(`${path}[${i}].final`, 'expected a boolean');
        return {
          window: {
            start: finite(w['start'], `${path}[${i}].window.start`),
            end: finite(w['end'], `${path}[${i}].window.end`),
          },
          revision: int(o['revision'], `${path}[${i}].revision`, 0),
          final: o['final'],
          values: obj(o['values'], `${path}[${i}].values`),
        } satisfies WindowSummary;
      });
    const minutes = summaries(s['minutes'], 'trending.minutes');
    const trending = summaries(s['trending'], 'trending.trending');
    const sessions = arr(s['sessions'], 'trending.sessions', this.#keep).map((x, i) => {
      const o = obj(x, `trending.sessions[${i}]`);
      return {
        userId: str(o['userId'], `trending.sessions[${i}].userId`),
        start: finite(o['start'], `trending.sessions[${i}].start`),
        end: finite(o['end'], `trending.sessions[${i}].end`),
        plays: finite(o['plays'], `trending.sessions[${i}].plays`),
        listenedMs: finite(o['listenedMs'], `trending.sessions[${i}].listenedMs`),
      } satisfies ListeningSession;
    });
    const late = int(s['late'], 'trending.late', 0);
    const aggs = this.build();
    for (const k of ['perMinute', 'sliding', 'session'] as const) {
      const snap = obj(s[k], `trending.${k}`);
      obj(snap['stats'], `trending.${k}.stats`);
      aggs[k].restore(snap as unknown as WindowedAggregatorSnapshot);
    }
    this.#aggs = aggs;
    this.#minutes = minutes;
    this.#trending = trending;
    this.#sessions = sessions;
    this.#late = late;
  }
}

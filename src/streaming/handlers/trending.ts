import type { StreamEvent } from '../events/index.ts';
import type { StreamingMetrics } from '../metrics.ts';
import type { EventHandler, HandlerContext } from '../processor.ts';
import {
  count,
  distinct,
  session,
  sliding,
  sum,
  topK,
  tumbling,
  WindowedAggregator,
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
  readonly #minutes: WindowSummary[] = [];
  readonly #trending: WindowSummary[] = [];
  readonly #sessions: ListeningSession[] = [];
  readonly #perMinute;
  readonly #sliding;
  readonly #sessionAgg;
  #late = 0;

  constructor(opts: TrendingOptions = {}) {
    this.#metrics = opts.metrics;
    this.#keep = opts.keep ?? 60;
    const timing = { outOfOrdernessMs: opts.outOfOrdernessMs ?? 10_000, graceMs: opts.graceMs ?? 60_000 };
    const onLate = (_e: Play, reason: string) => {
      this.#late++;
      this.#metrics?.windowResults.labels('any', `late_${reason}`).inc();
    };
    this.#perMinute = new WindowedAggregator({
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
    this.#sliding = new WindowedAggregator({
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
    this.#sessionAgg = new WindowedAggregator({
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
    this.#perMinute.add(play, e.ts);
    this.#sliding.add(play, e.ts);
    this.#sessionAgg.add(play, e.ts);
  }

  /**
   * GDPR erasure: the user's open session window and closed sessions go. The per-minute and
   * sliding windows are keyed by nothing personal (their unique-listener counts are
   * HyperLogLog sketches: register maxima of hashes, no ids).
   */
  forget(userId: string): void {
    this.#sessionAgg.forgetKey(userId);
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
    this.#perMinute.flush();
    this.#sliding.flush();
    this.#sessionAgg.flush();
  }
}

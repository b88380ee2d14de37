import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
import type { Logger } from '../../core/observability/index.ts';
import type { Clock, TimerHandle } from '../../core/time/index.ts';
import type { StreamEvent } from '../events/index.ts';
import type { StreamingMetrics } from '../metrics.ts';
import type { EventHandler, HandlerContext } from '../processor.ts';
import type { Interaction, Recommendation, Recommender, UserInteraction } from '../recommendations/index.ts';
import { bad, header, int, obj, typed } from '../snapshots/check.ts';
import { checkFinite, packStrings, unpackStrings } from '../snapshots/columns.ts';
import { cancellable, runSteps, runStepsCooperatively, type Steps } from '../snapshots/steps.ts';

/** Publishes a payload to a user's personal inbox channel `user:<id>`. */
export type UserPublisher = (userId: string, data: unknown) => Promise<unknown>;
/** Whether anyone is subscribed to the user's `user:<id>` channel (cluster-wide presence). */
export type UserSubscribed = (userId: string) => Promise<boolean>;

export interface RecommendationsHandlerOptions {
  model: Recommender;
  /**
   * A separate baseline for users the model knows nothing about. Absent (the default
   * wiring), such users get the model's own popularity fill — the same decayed
   * popularity ranking, without learning it twice — reported as `popularity`.
   */
  baseline?: Recommender;
  clock: Clock;
  metrics: StreamingMetrics;
  logger: Logger;
  publish: UserPublisher;
  /**
   * Asked before a push is computed: a list for a user nobody is subscribed to as
   * `user:<id>` is not computed or published (counted `no_listener`; the user's app reads
   * `GET /v1/users/{id}/recommendations` when it opens). Absent: every push is published.
   */
  listening?: UserSubscribed;
  /** After a play, the new list is pushed this long after the user's last event (debounce), ms. @default 1000 */
  pushDebounceMs: number;
  /** Items in a pushed list. @default 10 */
  pushItems: number;
  /** Users with a push pending at most; over it the oldest pending push is dropped (counted `dropped`). @default 100_000 */
  maxPendingPushes: number;
  /** Users whose last play time is remembered (least recently active forgotten first). @default 1_000_000 */
  maxKnownUsers?: number;
  /**
   * Pushes per second at most (each computes a list: ~1–2 ms with the latent factors, bench/streaming/recommendations.ts). Due pushes over it wait
   * for the next sweep, still coalescing later plays (counted `deferred`). @default 500
   */
  maxPushesPerSec: number;
  /**
   * The model's batch-trained part (item-knn's latent factors) is retrained this often, ms,
   * in 10 ms slices between batches; the first training comes after min(this, 60 s). 0 or
   * absent: never (the model answers without it). @default 0
   */
  factorRetrainMs?: number;
}

const DEFAULT_MAX_KNOWN_USERS = 1_000_000;
/** Pushes computed back to back at most this long (ms) before the event loop turns. */
const PUSH_SLICE_MS = 5;
/** The first factor training comes this soon after start (or a restore), at most. */
const FIRST_TRAINING_MS = 60_000;

/** The signal a music event gives the model, or undefined when it gives none. */
export function toInteraction(e: StreamEvent): Interaction | undefined {
  const d = e.data;
  const trackId = d['trackId'] as string;
  // One object per event, no spreads: this runs for every play on the handlers' thread.
  const artistId = typeof d['artistId'] === 'string' ? d['artistId'] : undefined;
  switch (e.type) {
    case 'track.played': {
      const duration = d['durationMs'] as number;
      const completion = duration > 0 ? Math.min(1, Math.max(0, (d['playedMs'] as number) / duration)) : 1;
      return artistId === undefined
        ? { userId: e.userId, trackId, ts: e.ts, kind: 'play', completion }
        : { userId: e.userId, trackId, ts: e.ts, artistId, kind: 'play', completion };
    }
    case 'track.skipped':
    case 'track.liked': {
      const kind = e.type === 'track.skipped' ? 'skip' : 'like';
      return artistId === undefined
        ? { userId: e.userId, trackId, ts: e.ts, kind }
        : { userId: e.userId, trackId, ts: e.ts, artistId, kind };
    }
    case 'playlist.track_added':
      return { userId: e.userId, trackId, ts: e.ts, kind: 'add' };
    default:
      return undefined;
  }
}

/**
 * Live recommendations: every play, skip, like and playlist add teaches the online model
 * (and the popularity baseline); after a live play, the user's new list is pushed to
 * their `user:<id>` channel as `{"kind":"recommendations","items":[…]}`, debounced per
 * user so a burst of plays makes one push. Replayed events only rebuild the model.
 */
export class RecommendationsHandler implements EventHandler {
  readonly name = 'recommendations';
  readonly types: ReadonlySet<string> = new Set([
    'track.played',
    'track.skipped',
    'track.liked',
    'playlist.track_added',
  ]);
  readonly #o: RecommendationsHandlerOptions;
  /**
   * userId → when its push is due (debounced); swept by one timer, not a timer per play.
   * Least recently scheduled first, which is also earliest due (one debounce for all).
   */
  readonly #due: LRUCache<string, number>;
  #sweeper: TimerHandle | undefined;
  /** Bumped by `close()`: pushes of a sweep from before it stop, and a factor training. */
  #generation = 0;
  #trainer: TimerHandle | undefined;
  #training = false;
  #trained = false;
  #lastTrainingAt: number;
  /** `#n` when the newest training started: no new training while nothing was learned since. */
  #trainedAtN = -1;
  /** Users seen and when (bounded; O(1) eviction, see IdWindow for why not a Map). */
  #known: LRUCache<string, number>;
  #n = 0;

  constructor(opts: RecommendationsHandlerOptions) {
    this.#o = opts;
    this.#known = boundedCache<string, number>(opts.maxKnownUsers ?? DEFAULT_MAX_KNOWN_USERS);
    // Over the bound the earliest pending push goes (its list stays available over HTTP).
    this.#due = boundedCache<string, number>(opts.maxPendingPushes, {
      dispose: (_at, _user, reason) => {
        if (reason === 'evict') opts.metrics.recommendationPushes.labels('dropped').inc();
      },
    });
    this.#lastTrainingAt = opts.clock.now();
    const every = opts.factorRetrainMs ?? 0;
    if (every > 0 && opts.model.retrainFactorsSteps) {
      const tick = Math.max(10, Math.min(every, FIRST_TRAINING_MS) / 4);
      this.#trainer = opts.clock.setInterval(() => this.#maybeTrain(every), tick);
    }
  }

  #maybeTrain(every: number): void {
    // Nothing learned yet, or nothing since the newest training: nothing to train on.
    if (this.#training || this.#n === 0 || this.#n === this.#trainedAtN) return;
    const due = this.#trained ? every : Math.min(every, FIRST_TRAINING_MS);
    if (this.#o.clock.now() - this.#lastTrainingAt < due) return;
    void this.#train();
  }

  /** One training of the model's factors, in slices (the handler keeps learning between them). */
  async #train(): Promise<void> {
    const generation = this.#generation;
    this.#training = true;
    this.#trainedAtN = this.#n;
    try {
      const r = await runStepsCooperatively(
        cancellable(this.#o.model.retrainFactorsSteps!(), () => this.#generation !== generation),
      );
      if (r.value === undefined) return; // closed meanwhile
      this.#trained = true;
      this.#o.metrics.factorTrainings.labels('ok').inc();
      this.#o.metrics.factorTrainingCpu.set(r.cpuMs / 1000);
      this.#o.logger.info(
        {
          ...this.#o.model.factorStats?.(),
          cpuMs: Math.round(r.cpuMs),
          slices: r.slices,
          longestSliceMs: Math.round(r.longestSliceMs),
        },
        'recommendation factors retrained',
      );
    } catch (err) {
      this.#o.metrics.factorTrainings.labels('failed').inc();
      this.#o.logger.error(
        { err },
        'recommendation factor training failed; the model answers without new factors',
      );
    } finally {
      this.#training = false;
      this.#lastTrainingAt = this.#o.clock.now();
    }
  }

  handle(e: StreamEvent, ctx: HandlerContext): void {
    const i = toInteraction(e);
    if (!i) return;
    // Update latency is sampled (1 in 16): the timer would cost a noticeable share of the update.
    if ((this.#n++ & 15) === 0) {
      const started = performance.now();
      this.#o.model.observe(i);
      this.#o.metrics.recommendationUpdate.observe((performance.now() - started) / 1000);
    } else this.#o.model.observe(i);
    this.#o.baseline?.observe(i);
    this.#known.set(e.userId, Math.max(this.#known.get(e.userId) ?? 0, e.receivedAt));
    if (!ctx.replay && ctx.owner && e.type === 'track.played') this.#schedulePush(e.userId);
  }

  /** SPEC §4 `GET /v1/users/{id}/recommendations`. */
  recommend(
    userId: string,
    limit: number,
  ): { items: Recommendation[]; model: string; updatedAt: string | null } {
    const now = this.#o.clock.now();
    const updated = this.#known.get(userId);
    if (updated === undefined) {
      const baseline = this.#o.baseline ?? this.#o.model;
      return {
        items: baseline.recommend(userId, limit, now),
        model: this.#o.baseline?.name ?? 'popularity',
        updatedAt: null,
      };
    }
    return {
      items: this.#o.model.recommend(userId, limit, now),
      model: this.#o.model.name,
      updatedAt: new Date(updated).toISOString(),
    };
  }

  /**
   * GDPR erasure: the model's per-user state (history ring, profile), the "known since"
   * time and any pending push go. Item co-occurrence and popularity are aggregates over
   * all users and hold no user id: they stay.
   */
  forget(userId: string): void {
    if (!this.#o.model.forget)
      throw new Error(`recommendation model ${this.#o.model.name} cannot forget a user`);
    this.#o.model.forget(userId);
    this.#o.baseline?.forget?.(userId);
    this.#known.delete(userId);
    this.#due.delete(userId);
  }

  /** What the model holds about the user (GDPR export). */
  exportUser(userId: string): { known: boolean; updatedAt: string | null; history: UserInteraction[] } {
    const updated = this.#known.get(userId);
    return {
      known: updated !== undefined,
      updatedAt: updated === undefined ? null : new Date(updated).toISOString(),
      history: this.#o.model.userState?.(userId) ?? [],
    };
  }

  /**
   * The model's state (its own `snapshot()`: item-kNN with its popularity fill), the
   * baseline's if there is one, and when each user was last seen (least recent first).
   * Pending pushes are not state: they are side effects of live events.
   */
  snapshot(): unknown {
    return runSteps(this.snapshotSteps());
  }

  /** `snapshot()` in steps (snapshots/steps.ts): the processor lets the event loop turn between them. */
  *snapshotSteps(): Steps<unknown> {
    const ids: string[] = [];
    const at = new Float64Array(this.#known.size);
    for (const [id, t] of this.#known.rentries() as Iterable<[string, number]>) {
      at[ids.length] = t;
      ids.push(id);
    }
    return {
      kind: 'recommendations',
      version: 2,
      model: this.#o.model.snapshotSteps ? yield* this.#o.model.snapshotSteps() : this.#o.model.snapshot(),
      baseline: this.#o.baseline?.snapshot() ?? null,
      // Columns: user ids (packed) and when each was last seen, least recent first.
      known: { ids: packStrings(ids), at },
      n: this.#n,
    };
  }

  /** Replaces the state with a `snapshot()`; validates everything first (the models validate theirs). */
  restore(state: unknown): void {
    const s = header(state, 'recommendations', 2);
    const k = obj(s['known'], 'recommendations.known');
    const ids = unpackStrings(k['ids'], 'recommendations.known.ids');
    const at = typed(k['at'], Float64Array, 'recommendations.known.at', ids.length);
    checkFinite(at, 'recommendations.known.at');
    const known = boundedCache<string, number>(this.#known.maxSize);
    for (let i = 0; i < ids.length; i++) known.set(ids[i]!, at[i]);
    const n = int(s['n'], 'recommendations.n', 0);
    const baseline = this.#o.baseline;
    if ((s['baseline'] === null) !== (baseline === undefined))
      bad('recommendations.baseline', baseline ? 'missing' : 'this handler has no baseline model');
    // Each model restores all-or-nothing; the second failing puts the first back.
    const previous = baseline ? this.#o.model.snapshot() : undefined;
    this.#o.model.restore(s['model']);
    if (baseline) {
      try {
        baseline.restore(s['baseline']);
      } catch (err) {
        this.#o.model.restore(previous);
        throw err;
      }
    }
    this.#known = known;
    this.#n = n;
    // The restored model has no factors (not snapshotted): train them soon.
    this.#trained = false;
    this.#trainedAtN = -1;
    this.#lastTrainingAt = this.#o.clock.now();
  }

  #schedulePush(userId: string): void {
    // Setting moves the user to the most recent end: the cache stays ordered by due time,
    // so the sweep stops at the first not due.
    this.#due.set(userId, this.#o.clock.now() + this.#o.pushDebounceMs);
    this.#sweeper ??= this.#o.clock.setInterval(
      () => this.#sweep(),
      Math.max(10, Math.min(1000, this.#o.pushDebounceMs / 4)),
    );
  }

  #sweep(): void {
    const now = this.#o.clock.now();
    const interval = Math.max(10, Math.min(1000, this.#o.pushDebounceMs / 4));
    let budget = Math.max(1, Math.floor((this.#o.maxPushesPerSec * interval) / 1000));
    const ready: string[] = [];
    for (const userId of this.#due.rkeys()) {
      if (this.#due.peek(userId)! > now) break;
      if (budget-- <= 0) {
        this.#o.metrics.recommendationPushes.labels('deferred').inc();
        break;
      }
      ready.push(userId);
    }
    for (const userId of ready) this.#due.delete(userId);
    void this.#pushInSlices(ready);
    if (this.#due.size === 0) {
      this.#sweeper?.cancel();
      this.#sweeper = undefined;
    }
  }

  /**
   * Computes and sends the pushes of one sweep, letting the event loop turn whenever
   * PUSH_SLICE_MS of them have run: a sweep is up to `maxPushesPerSec / 4` lists of ~1–2 ms
   * each (more while a major GC marks a large heap), which in one go would hold HTTP, the
   * gateway and intake for that long.
   */
  async #pushInSlices(ready: string[]): Promise<void> {
    const generation = this.#generation;
    let targets = ready;
    const listening = this.#o.listening;
    if (listening) {
      // Asked for the whole sweep at once (one presence lookup each, concurrently). If a
      // lookup fails, the push is tried: its publish then fails (counted) or goes through.
      const heard = await Promise.all(ready.map((u) => listening(u).catch(() => true)));
      if (this.#generation !== generation) return;
      targets = ready.filter((_, i) => heard[i]);
      if (targets.length < ready.length)
        this.#o.metrics.recommendationPushes.labels('no_listener').inc(ready.length - targets.length);
    }
    await runStepsCooperatively(
      cancellable(this.#pushSteps(targets), () => this.#generation !== generation),
      PUSH_SLICE_MS,
    );
  }

  *#pushSteps(targets: string[]): Steps<void> {
    for (const userId of targets) {
      void this.#push(userId);
      yield;
    }
  }

  async #push(userId: string): Promise<void> {
    const { items } = this.recommend(userId, this.#o.pushItems);
    try {
      await this.#o.publish(userId, { kind: 'recommendations', items });
      this.#o.metrics.recommendationPushes.labels('ok').inc();
    } catch (err) {
      // A push is a convenience (the list is always available over HTTP): count and log, never retry forever.
      this.#o.metrics.recommendationPushes.labels('failed').inc();
      this.#o.logger.warn({ err, userId }, 'recommendation push failed');
    }
  }

  /** Drops pending pushes (shutdown). */
  close(): void {
    this.#generation++;
    this.#trainer?.cancel();
    this.#trainer = undefined;
    this.#sweeper?.cancel();
    this.#sweeper = undefined;
    this.#due.clear();
  }
}

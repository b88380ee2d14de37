import { emptyTrack, PlaysHandler } from '../handlers/plays.ts';
import { RecommendationsHandler, type RecommendationsHandlerOptions } from '../handlers/recommendations.ts';
import { TrendingHandler } from '../handlers/trending.ts';
import type { EventHandler } from '../processor.ts';
import { ItemKnnRecommender } from '../recommendations/index.ts';
import type {
  RecommendationList,
  StreamingUserExport,
  TrackStatsView,
  UserListeningView,
  WindowsView,
} from '../service.ts';

/**
 * What the built-in handlers need (the same in-process and in the worker): the
 * recommendations handler's options but its models, which are built here.
 */
export type BuiltinHandlersOptions = Omit<RecommendationsHandlerOptions, 'model' | 'baseline'>;

/** The part of a GDPR export the built-in handlers answer. */
export type BuiltinUserExport = Pick<StreamingUserExport, 'listening' | 'recommendations' | 'sessions'>;

/**
 * The queries the built-in handlers answer. Implemented by `BuiltinHandlers` (the handlers
 * in this thread) and by `WorkerHost` (the same calls, answered by the worker over its
 * port): StreamingService asks whichever it has, the same way.
 */
export interface BuiltinQueries {
  recommend(userId: string, limit: number): Promise<RecommendationList>;
  userListening(userId: string): Promise<UserListeningView>;
  trackStats(trackId: string): Promise<TrackStatsView>;
  windows(): Promise<WindowsView>;
  exportUser(userId: string): Promise<BuiltinUserExport>;
  sizes(): Promise<{ tracks: number; artists: number; users: number }>;
}

/** The built-in handlers (plays, recommendations, trending windows) and their read side. */
export class BuiltinHandlers implements BuiltinQueries {
  readonly plays: PlaysHandler;
  readonly recommendations: RecommendationsHandler;
  readonly trending: TrendingHandler;

  constructor(o: BuiltinHandlersOptions) {
    this.plays = new PlaysHandler({}, o.metrics);
    this.recommendations = new RecommendationsHandler({
      model: new ItemKnnRecommender(),
      clock: o.clock,
      metrics: o.metrics,
      logger: o.logger,
      publish: o.publish,
      ...(o.listening ? { listening: o.listening } : {}),
      pushDebounceMs: o.pushDebounceMs,
      pushItems: o.pushItems,
      maxPendingPushes: o.maxPendingPushes,
      ...(o.maxKnownUsers ? { maxKnownUsers: o.maxKnownUsers } : {}),
      maxPushesPerSec: o.maxPushesPerSec,
      ...(o.factorRetrainMs ? { factorRetrainMs: o.factorRetrainMs } : {}),
    });
    this.trending = new TrendingHandler({ metrics: o.metrics });
  }

  /** In the order the processor runs them. */
  get list(): EventHandler[] {
    return [this.plays, this.recommendations, this.trending];
  }

  async recommend(userId: string, limit: number): Promise<RecommendationList> {
    return this.recommendations.recommend(userId, limit);
  }

  async userListening(userId: string): Promise<UserListeningView> {
    const u = this.plays.user(userId);
    return u
      ? { user: userId, ...structuredClone(u), session: u.session ? { ...u.session } : null }
      : { user: userId, plays: 0, skips: 0, likes: 0, history: [], sessions: 0, session: null };
  }

  async trackStats(trackId: string): Promise<TrackStatsView> {
    return { trackId, ...(this.plays.track(trackId) ?? emptyTrack()) };
  }

  async windows(): Promise<WindowsView> {
    return this.trending.latest();
  }

  async exportUser(userId: string): Promise<BuiltinUserExport> {
    const listening = this.plays.user(userId);
    return {
      listening: listening ? structuredClone(listening) : null,
      recommendations: {
        ...this.recommendations.exportUser(userId),
        items: this.recommendations.recommend(userId, 10).items,
      },
      sessions: this.trending.sessionsOf(userId),
    };
  }

  async sizes(): Promise<{ tracks: number; artists: number; users: number }> {
    return this.plays.sizes;
  }

  /** Drops pending pushes and emits the open windows (shutdown). */
  close(): void {
    this.recommendations.close();
    this.trending.close();
  }
}

/** The names of the built-in handlers (what runs in the worker with STREAM_WORKER). */
export const BUILTIN_HANDLERS: ReadonlySet<string> = new Set(['plays', 'recommendations', 'trending']);

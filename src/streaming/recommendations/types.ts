import type { Steps } from '../snapshots/steps.ts';
/** One listening signal from a user. Times are event times (ms); the models never read the clock. */
export interface Interaction {
  userId: string;
  trackId: string;
  artistId?: string;
  /** `add` = added to a playlist. */
  kind: 'play' | 'skip' | 'like' | 'add';
  /** Event time, ms since the epoch. */
  ts: number;
  /** Plays: playedMs / durationMs in [0, 1]; absent = treated as a full play. */
  completion?: number;
}

export type InteractionKind = Interaction['kind'];

export interface Recommendation {
  trackId: string;
  score: number;
  /** Why, for display: "because you played t42", "popular now", … */
  reason: string;
}

/** An online recommender: learns one interaction at a time, answers at any time. */
export interface Recommender {
  readonly name: string;
  /** Online update: bounded work per call. Throws TypeError on a malformed interaction. */
  observe(i: Interaction): void;
  /**
   * Up to `limit` tracks for `userId`, best first (ties by trackId), excluding tracks the
   * user played or skipped recently (their bounded history). `now` is the query time.
   */
  recommend(userId: string, limit: number, now: number): Recommendation[];
  /** Its state, as a structured-clone value (`v8.serialize`: plain data and typed arrays). */
  snapshot(): unknown;
  /** The same as `snapshot()` built in steps (snapshots/steps.ts), for a model with much state. */
  snapshotSteps?(): Steps<unknown>;
  /** A model with a part trained in batch (item-knn's latent factors): one training, in steps. */
  retrainFactorsSteps?(): Steps<unknown>;
  /** The trained part's size and cost, or undefined when untrained. */
  factorStats?(): { users: number; items: number; nnz: number; factors: number; trainMs: number } | undefined;
  /** Replaces the state with a snapshot; validates it and throws InvalidSnapshotError (state unchanged) when it is bad. */
  restore(state: unknown): void;
  /**
   * GDPR erasure: drops everything kept per user (history, profile). Aggregates over all
   * users (item co-occurrence, popularity) hold no user id and stay. True if the user was known.
   * Every model the service runs implements it (optional only for evaluation-only models).
   */
  forget?(userId: string): boolean;
  /** What is kept about the user, newest first (GDPR export). */
  userState?(userId: string): UserInteraction[];
}

/** One remembered interaction of a user, as exported. */
export interface UserInteraction {
  trackId: string;
  kind: InteractionKind;
  ts: number;
}

const KINDS: ReadonlySet<string> = new Set(['play', 'skip', 'like', 'add']);

/** Cheap shape check for `observe` (the gateway validates events upstream; this guards the model's state). */
export function checkInteraction(i: Interaction): void {
  if (typeof i !== 'object' || i === null) throw new TypeError('interaction must be an object');
  if (typeof i.userId !== 'string' || i.userId === '')
    throw new TypeError('interaction.userId must be a non-empty string');
  if (typeof i.trackId !== 'string' || i.trackId === '')
    throw new TypeError('interaction.trackId must be a non-empty string');
  if (!KINDS.has(i.kind))
    throw new TypeError(`interaction.kind must be play|skip|like|add, got ${JSON.stringify(i.kind)}`);
  if (typeof i.ts !== 'number' || !Number.isFinite(i.ts))
    throw new TypeError('interaction.ts must be a finite number');
  if (
    i.completion !== undefined &&
    (typeof i.completion !== 'number' || !(i.completion >= 0 && i.completion <= 1))
  ) {
    throw new TypeError('interaction.completion must be in [0, 1]');
  }
  if (i.artistId !== undefined && typeof i.artistId !== 'string')
    throw new TypeError('interaction.artistId must be a string');
}

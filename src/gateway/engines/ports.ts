/**
 * The gateway's engine ports. Each has an in-memory implementation that a single-node
 * user runs in production (`./memory/`) and, in cluster mode, a Redis one; one contract
 * suite (`test/contract/`) runs against every implementation.
 *
 * Semantics shared by all implementations:
 * - Offsets are per channel, start at 1 and grow by one per publication.
 * - `epoch` names one unbroken history of a channel; it changes when that history is
 *   lost (process restart for memory, eviction of an idle channel's metadata).
 */

/** Who published or who is present. `client` is absent for server-side (HTTP) publishes. */
export interface ClientInfo {
  user: string;
  client?: string;
}

export interface Publication {
  offset: number;
  data: unknown;
  info?: ClientInfo;
  /** Milliseconds since the epoch, set when the publication entered history. */
  ts: number;
  /** W3C trace context of the publish that produced it (not sent to clients). */
  trace?: Record<string, string>;
}

export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface HistoryQuery {
  /** Return publications after this position; when absent, the latest `limit`. */
  since?: StreamPosition | undefined;
  /** Maximum publications returned; 0 returns only the position. */
  limit: number;
}

export interface HistoryPage {
  position: StreamPosition;
  publications: Publication[];
  /**
   * With `since`: true when every publication after `since.offset` is in the page
   * (same epoch, nothing evicted in between, within `limit`).
   */
  complete: boolean;
}

/** Bounded per-channel publication history that assigns offsets. */
export interface History {
  /** Appends a publication, assigning its offset; resolves once it is stored. */
  append(
    channel: string,
    pub: Omit<Publication, 'offset'>,
  ): Promise<{ publication: Publication; epoch: string }>;
  read(channel: string, query: HistoryQuery): Promise<HistoryPage>;
  position(channel: string): Promise<StreamPosition>;
  remove(channel: string): Promise<void>;
  close(): Promise<void>;
}

/** Messages every node receives (cluster-wide control plane). */
export type ControlMessage =
  { type: 'disconnect-user'; user: string; code: number; reason: string } | { type: 'ping'; node: string };

export interface BrokerHandler {
  onPublication(channel: string, pub: Publication, epoch: string): void;
  onJoin(channel: string, info: ClientInfo): void;
  onLeave(channel: string, info: ClientInfo): void;
  onControl(msg: ControlMessage): void;
  /**
   * The broker may have missed messages (its connection dropped and came back): the
   * handler should compare what it delivered with history and repair.
   */
  onResync(): void;
}

/**
 * Cross-node fan-out. A node subscribes to a channel once, however many local clients
 * want it; every publication, join and leave reaches every subscribed node's handler.
 */
export interface Broker {
  setHandler(handler: BrokerHandler): void;
  publish(channel: string, pub: Publication, epoch: string): Promise<void>;
  publishJoin(channel: string, info: ClientInfo): Promise<void>;
  publishLeave(channel: string, info: ClientInfo): Promise<void>;
  publishControl(msg: ControlMessage): Promise<void>;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  close(): Promise<void>;
}

/** Who is subscribed to a channel, across all nodes. */
export interface Presence {
  add(channel: string, info: Required<ClientInfo>): Promise<void>;
  remove(channel: string, client: string): Promise<void>;
  list(channel: string): Promise<Required<ClientInfo>[]>;
  close(): Promise<void>;
}

export interface RateRule {
  limit: number;
  windowMs: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Commands left in the current window after this one. */
  remaining: number;
  /** When not allowed: how long until one more would be. */
  retryAfterMs: number;
}

/**
 * Sliding-window rate limits and concurrency slots. `consume` may answer synchronously
 * (memory) so hot paths don't pay for a promise; callers handle both.
 */
export interface RateLimiter {
  consume(key: string, rule: RateRule): RateDecision | Promise<RateDecision>;
  /** Frees a key's window state (e.g. when its connection closes). */
  reset(key: string): void | Promise<void>;
  /** Takes one of `max` slots under `key` for `member`; false when all are taken. Idempotent per member. */
  acquireSlot(key: string, member: string, max: number): Promise<boolean>;
  releaseSlot(key: string, member: string): Promise<void>;
  /** Slots taken under `key` right now (live leases only): e.g. a user's connections on every node. */
  slotCount(key: string): Promise<number>;
  close(): Promise<void>;
}

/** What a resumable session remembers between connections. */
export interface SessionRecord {
  user: string;
  /** channel → subscription options and the last offset the server delivered. */
  channels: Record<string, { presence: boolean; offset: number; epoch: string }>;
}

export interface SessionStore {
  save(id: string, record: SessionRecord, ttlMs: number): Promise<void>;
  /**
   * Returns and removes the session `id` of `user` (a session resumes once). A session of
   * another user is neither returned nor consumed: a stolen resume token restores nothing
   * and leaves the owner's session intact.
   */
  take(id: string, user: string): Promise<SessionRecord | undefined>;
  close(): Promise<void>;
}

export interface Engines {
  readonly kind: 'memory' | 'redis';
  /**
   * Appends to history and fans out to every node as one step (atomic where the engine
   * can: a Lua script in Redis), so publications reach every node in offset order.
   */
  publish(
    channel: string,
    pub: Omit<Publication, 'offset'>,
  ): Promise<{ publication: Publication; epoch: string }>;
  /**
   * The same, answered synchronously, by engines that live in this process (memory): the
   * publish hot path then pays no promise, no timer and no breaker bookkeeping for a call
   * that cannot be slow or unreachable. Absent on engines that do I/O (Redis).
   */
  publishSync?(
    channel: string,
    pub: Omit<Publication, 'offset'>,
  ): { publication: Publication; epoch: string };
  /** Resolves once the engines can serve (connections up); rejects with the reason if they can't in time. */
  start(): Promise<void>;
  /** Dependency states for readiness (e.g. redis command and subscriber connections). */
  health(): Record<string, { ok: boolean; detail?: string }>;
  readonly history: History;
  readonly broker: Broker;
  readonly presence: Presence;
  readonly rateLimiter: RateLimiter;
  readonly sessions: SessionStore;
  close(): Promise<void>;
}

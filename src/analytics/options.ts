/** The AnalyticsService's options, bounds and public shapes. */
import type { Registry } from 'prom-client';
import type { Logger } from '../core/observability/index.ts';
import type { Clock } from '../core/time/index.ts';
import type { ConsentLookup } from './consent.ts';
import type { SegmentName } from './engagement.ts';

export interface AnalyticsLimits {
  /** User profiles held; the least recently active go first (CLOCK). @default 250_000 */
  maxUsers: number;
  /** Tracks / artists held for trending. @default 10_000 / 5_000 */
  maxTracks: number;
  maxArtists: number;
  /** Top-artist counters per user. @default 20 */
  topArtistsPerUser: number;
  /** Users whose consent is cached. @default 250_000 */
  consentCacheSize: number;
  /** Users per consent lookup. @default 500 */
  consentBatch: number;
  /** Events held for consent lookups before the stream waits. @default 20_000 */
  consentHighWater: number;
  /** Attempts of a failing consent lookup. @default 5 */
  consentAttempts: number;
  /** A user with a profile is re-asked for consent at most this often, ms. @default 15 min */
  consentRecheckMs: number;
  /** Lateness (event time) within which out-of-order events still shape sessions, ms. @default 1 h */
  sessionGraceMs: number;
  /** HyperLogLog precision of the per-item listener registers (4..12; error ≈ 1.04/√2^p). @default 8 */
  listenerPrecision: number;
  /** Trending: short half-life / window, baseline half-life / short one, prior plays. @default 0.25, 8, 5 */
  halfLifeFraction: number;
  baselineFactor: number;
  prior: number;
  /** Query results (trending, overview, segments) are reused for this long, ms. @default 50 (event to insight < 100 ms; the dashboard reads once a second) */
  queryCacheMs: number;
  /** Event times further ahead of the clock are taken as now + this, ms. @default 5 min */
  maxFutureMs: number;
  /** Pseudonym key epochs kept (current included). @default 2 */
  keyEpochs: number;
}

export const DEFAULT_LIMITS: AnalyticsLimits = {
  maxUsers: 250_000,
  maxTracks: 10_000,
  maxArtists: 5_000,
  topArtistsPerUser: 20,
  consentCacheSize: 250_000,
  consentBatch: 500,
  consentHighWater: 20_000,
  consentAttempts: 5,
  consentRecheckMs: 15 * 60_000,
  sessionGraceMs: 60 * 60_000,
  listenerPrecision: 8,
  halfLifeFraction: 0.25,
  baselineFactor: 8,
  prior: 5,
  queryCacheMs: 50,
  maxFutureMs: 5 * 60_000,
  keyEpochs: 2,
};

export interface AnalyticsServiceOptions {
  clock: Clock;
  logger: Logger;
  registry: Registry;
  sessionGapMinutes: number;
  consentDefault: 'granted' | 'denied';
  consent: ConsentLookup;
  dataDir: string;
  limits?: Partial<AnalyticsLimits>;
}

/** The event fields analytics reads (a `StreamEvent` is one). */
export interface AnalyticsEvent {
  id: string;
  type: string;
  userId: string;
  ts: number;
  data: Record<string, unknown>;
}

export interface AnalyticsHandler {
  readonly name: 'analytics';
  readonly types: ReadonlySet<string>;
  handle(event: AnalyticsEvent, ctx: { replay: boolean; owner: boolean }): void | Promise<void>;
  /** GDPR erasure through the stream (also on nodes that reach a Kafka erasure marker). */
  forget(userId: string): void;
  /** Stream snapshots of the analytics state (the processor calls `settle` first). */
  snapshot(): unknown;
  restore(state: unknown): void;
  settle(): Promise<void>;
}

export interface UserAnalytics {
  userId: string;
  engagementScore: number;
  segment: SegmentName;
  sessions: { count: number; avgDurationMs: number };
  topArtists: Array<{ id: string; plays: number }>;
  lastSeen: string;
}

export interface Overview {
  events: { total: number; perSecond: number };
  activeUsers: number;
  topTracks: Array<{ id: string; plays: number }>;
}

/**
 * Listening analytics from the event stream (SPEC §7, issue #10): per-user sessions,
 * engagement and segments, trending tracks and artists, the overview's numbers — with
 * privacy in the data path. Order of work for each event (`handler.handle`):
 * 1. anonymous totals (event counts, trending plays) — for every user;
 * 2. the user's `analytics` consent: known → on; unknown → the event's `Fact` is held
 *    until the store answers (consent.ts); denied → stop here;
 * 3. the user's record, keyed by pseudonym (users.ts, pseudonyms.ts), and the user's
 *    contribution to unique listeners and active users (hashes of the pseudonym).
 * The IP an event may carry is truncated before anything keeps it (ip.ts).
 *
 * State lives in memory and is rebuilt from the retained event log on start, like the
 * stream's other handlers. Every part is bounded (`AnalyticsLimits`); see README.md for
 * the formulas and the bounds.
 */
import type { Clock } from '../core/time/index.ts';
import type { Logger } from '../core/observability/index.ts';
import { packStrings, unpackStrings } from '../streaming/index.ts';
import { ActivityCounters } from './activity.ts';
import { ConsentGate, type ConsentFlags } from './consent.ts';
import { engagement, inputOf, SEGMENT_NAMES, SEGMENTS, segmentOf } from './engagement.ts';
import { truncateIp } from './ip.ts';
import { AnalyticsMetrics } from './metrics.ts';
import {
  DEFAULT_LIMITS,
  type AnalyticsEvent,
  type AnalyticsHandler,
  type AnalyticsLimits,
  type AnalyticsServiceOptions,
  type Overview,
  type UserAnalytics,
} from './options.ts';
import { epochOf, KeyRing, PseudonymVault, type Epoch, type PseudonymKey } from './pseudonyms.ts';
import { maxOpenSessions } from './sessions.ts';
import {
  TREND_WINDOWS,
  TrendingIndex,
  type TrendEntity,
  type TrendingItem,
  type TrendWindow,
} from './trending.ts';
import { emptyFact, EventKind, KIND_OF_TYPE, readFact, UserTable, type Fact } from './users.ts';

const iso = (ms: number) => new Date(ms).toISOString();

export class AnalyticsService {
  readonly handler: AnalyticsHandler;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #l: AnalyticsLimits;
  readonly #keys: KeyRing;
  /** user id → record slot, pseudonym → user id: the only user ids analytics holds. */
  #vault = new PseudonymVault();
  /** The analytics state: pseudonymous user records, trending, activity. */
  #users: UserTable;
  readonly #gapMs: number;
  readonly #trending: TrendingIndex;
  readonly #activity = new ActivityCounters();
  readonly #gate: ConsentGate;
  #epoch: Epoch = { id: '', start: 0, end: 0 };
  #key: PseudonymKey | undefined;
  readonly #fact: Fact = emptyFact();
  readonly #cache = new Map<string, { at: number; value: unknown }>();
  #anonymousOnly = 0;
  #lateForSessions = 0;
  #evictedUsers = 0;
  #rotations = 0;

  constructor(opts: AnalyticsServiceOptions) {
    this.#clock = opts.clock;
    this.#log = opts.logger.child({ component: 'analytics' });
    const l = (this.#l = { ...DEFAULT_LIMITS, ...opts.limits });
    const gapMs = (this.#gapMs = opts.sessionGapMinutes * 60_000);
    this.#users = new UserTable(
      { gapMs, graceMs: l.sessionGraceMs, maxOpen: maxOpenSessions(gapMs, l.sessionGraceMs) },
      l.topArtistsPerUser,
    );
    this.#keys = new KeyRing({ dataDir: opts.dataDir, logger: this.#log, keep: l.keyEpochs });
    this.#trending = new TrendingIndex({
      maxTracks: l.maxTracks,
      maxArtists: l.maxArtists,
      precision: l.listenerPrecision,
      halfLifeFraction: l.halfLifeFraction,
      baselineFactor: l.baselineFactor,
      prior: l.prior,
    });
    this.#gate = new ConsentGate({
      lookup: opts.consent,
      defaultGranted: opts.consentDefault === 'granted',
      clock: opts.clock,
      logger: this.#log,
      maxCached: l.consentCacheSize,
      batchSize: l.consentBatch,
      highWater: l.consentHighWater,
      maxAttempts: l.consentAttempts,
      release: (userId, facts, granted) => this.#release(userId, facts, granted),
    });
    new AnalyticsMetrics(opts.registry, () => ({
      folded: Object.fromEntries(
        [...KIND_OF_TYPE].map(([type, kind]) => [type, this.#activity.byKind[kind]!]),
      ),
      consent: this.#gate.counters,
      anonymousOnly: this.#anonymousOnly,
      lateForSessions: this.#lateForSessions,
      evicted: {
        users: this.#evictedUsers,
        tracks: this.#trending.tracks.evicted,
        artists: this.#trending.artists.evicted,
      },
      rotations: this.#rotations,
      trackedUsers: this.#users.size,
      trackedItems: { track: this.#trending.tracks.size, artist: this.#trending.artists.size },
      heldFacts: this.#gate.heldFacts,
      approxBytes: () => this.stats().approxBytes,
    }));
    this.handler = {
      name: 'analytics',
      types: new Set(KIND_OF_TYPE.keys()),
      handle: (e, ctx) => this.#handle(e, ctx.replay),
      forget: (userId) => this.forget(userId),
      snapshot: () => this.#snapshotState(),
      restore: (state) => this.#restoreState(state),
      settle: () => this.#gate.settled(),
    };
  }

  // ---- stream snapshots ----------------------------------------------------------------

  /**
   * The state the stream rebuilds (records, the user id ↔ slot mapping, trending, activity,
   * counters), as it is: the stream processor serializes it at once, between two batches,
   * after `settle` (no event held for a consent lookup). The epoch keys stay in their
   * own file; the consent cache is not state (asked again).
   */
  #snapshotState(): unknown {
    const entries = this.#vault.entries();
    const slots = new Uint32Array(entries.length);
    for (let i = 0; i < entries.length; i++) slots[i] = entries[i]![1];
    return {
      kind: 'analytics',
      version: 2,
      epoch: this.#epoch.id,
      users: this.#users.snapshot(),
      // user id → slot as two columns (no pair per user).
      vault: { userIds: packStrings(entries.map((e) => e[0])), slots },
      trending: this.#trending.snapshot(),
      activity: this.#activity.snapshot(),
      counters: [this.#anonymousOnly, this.#lateForSessions, this.#evictedUsers, this.#rotations],
    };
  }

  /**
   * Replaces the state with a `#snapshotState()`: every part is checked before any changes.
   * Records of an older epoch are re-keyed to the current one (as a rotation does), and
   * every restored user's consent is asked again (a withdrawal while the node was down
   * drops the record, as a rebuild from the log would).
   */
  #restoreState(state: unknown): void {
    const s = (typeof state === 'object' && state !== null ? state : {}) as Record<string, unknown>;
    if (s['kind'] !== 'analytics' || s['version'] !== 2)
      throw new TypeError('analytics snapshot: not an analytics snapshot of version 2');
    const epoch = s['epoch'];
    const counters = s['counters'];
    if (typeof epoch !== 'string') throw new TypeError('analytics snapshot: bad epoch');
    if (!Array.isArray(counters) || counters.length !== 4 || !counters.every((n) => Number.isSafeInteger(n)))
      throw new TypeError('analytics snapshot: bad counters');
    const users = new UserTable(
      {
        gapMs: this.#gapMs,
        graceMs: this.#l.sessionGraceMs,
        maxOpen: maxOpenSessions(this.#gapMs, this.#l.sessionGraceMs),
      },
      this.#l.topArtistsPerUser,
    );
    const applyUsers = users.prepareRestore(s['users']);
    const applyTrending = this.#trending.prepareRestore(s['trending']);
    const applyActivity = this.#activity.prepareRestore(s['activity']);
    applyUsers();
    const vault = new PseudonymVault();
    const v = s['vault'] as { userIds?: unknown; slots?: unknown } | null;
    let userIds: string[];
    try {
      userIds = unpackStrings(v?.userIds, 'vault.userIds');
    } catch {
      throw new TypeError('analytics snapshot: bad vault');
    }
    const slots = v?.slots;
    if (!(slots instanceof Uint32Array) || slots.length !== userIds.length)
      throw new TypeError('analytics snapshot: bad vault');
    const seen = new Set<number>();
    for (let i = 0; i < userIds.length; i++) {
      const userId = userIds[i]!;
      const slot = slots[i]!;
      if (seen.has(slot)) throw new TypeError('analytics snapshot: bad vault entry');
      let pseudonym: string | undefined;
      try {
        pseudonym = users.pseudonym(slot);
      } catch {
        pseudonym = undefined;
      }
      if (pseudonym === undefined) throw new TypeError('analytics snapshot: vault entry without a record');
      seen.add(slot);
      vault.set(userId, slot, pseudonym);
    }
    if (seen.size !== users.size) throw new TypeError('analytics snapshot: records without a vault entry');
    // Everything checked: put it in place.
    applyTrending();
    applyActivity();
    this.#users = users;
    this.#vault = vault;
    [this.#anonymousOnly, this.#lateForSessions, this.#evictedUsers, this.#rotations] = counters as [
      number,
      number,
      number,
      number,
    ];
    this.#cache.clear();
    this.#key = undefined;
    this.#epoch = { id: '', start: 0, end: 0 };
    if (vault.size === 0) return;
    const key = this.#currentKey(this.#clock.now());
    if (epoch !== this.#epoch.id) {
      for (const [userId, slot] of vault.entries()) {
        const ps = key.pseudonym(userId);
        const old = users.pseudonym(slot);
        users.rekey(slot, ps.id, ps.hi, ps.lo);
        vault.set(userId, slot, ps.id, old);
      }
      this.#rotations++;
    }
    for (const [userId] of vault.entries()) this.#gate.recheck(userId);
    this.#log.info(
      { users: vault.size, epoch: this.#epoch.id },
      'analytics state restored from a stream snapshot',
    );
  }

  // ---- the stream ----------------------------------------------------------------------

  #handle(e: AnalyticsEvent, replay: boolean): void | Promise<void> {
    const kind = KIND_OF_TYPE.get(e.type);
    if (kind === undefined) return;
    const now = this.#clock.now();
    if (this.#key !== undefined && (now >= this.#epoch.end || now < this.#epoch.start)) this.#currentKey(now);
    let t = e.ts;
    if (!(t <= now + this.#l.maxFutureMs)) t = now + this.#l.maxFutureMs;
    if (t < 0) t = 0;
    this.#activity.count(kind, replay, now);
    const f = this.#fact;
    readFact(f, kind, t, e.data);
    const ip = e.data['ip'];
    if (ip !== undefined) f.network = truncateIp(ip);
    // 1. Anonymous: every user's plays count for trending.
    let trackSlot = -1;
    let artistSlot = -1;
    if (kind === EventKind.played && f.trackId !== undefined && f.artistId !== undefined) {
      const p = this.#trending.prepare(t, now);
      trackSlot = this.#trending.tracks.addPlay(f.trackId, p);
      artistSlot = this.#trending.artists.addPlay(f.artistId, p);
    }
    // 2. Consent, 3. the user's record.
    const slot = this.#vault.get(e.userId);
    if (slot !== undefined) {
      if (now - this.#users.checkedAt(slot) > this.#l.consentRecheckMs) {
        this.#users.setCheckedAt(slot, now);
        this.#gate.recheck(e.userId);
      }
      this.#foldPersonal(slot, f, now, trackSlot, artistSlot);
      return;
    }
    const granted = this.#gate.known(e.userId);
    if (granted === true) {
      this.#foldPersonal(this.#newUser(e.userId, now), f, now, trackSlot, artistSlot);
      return;
    }
    if (granted === false) {
      this.#anonymousOnly++;
      return;
    }
    return this.#gate.hold(e.userId, { ...f });
  }

  /** The consent gate answered for a user (see consent.ts). */
  #release(userId: string, facts: Fact[], granted: boolean): void {
    if (!granted) {
      this.#anonymousOnly += facts.length;
      if (this.#dropUser(userId)) this.#log.info('analytics record dropped: consent withdrawn');
      return;
    }
    const now = this.#clock.now();
    const known = this.#vault.get(userId);
    if (known !== undefined) this.#users.setCheckedAt(known, now);
    if (facts.length === 0) return;
    const slot = known ?? this.#newUser(userId, now);
    for (const f of facts) {
      const played = f.kind === EventKind.played && f.trackId !== undefined && f.artistId !== undefined;
      const trackSlot = played ? (this.#trending.tracks.slotOf(f.trackId!) ?? -1) : -1;
      const artistSlot = played ? (this.#trending.artists.slotOf(f.artistId!) ?? -1) : -1;
      this.#foldPersonal(slot, f, now, trackSlot, artistSlot);
    }
  }

  #foldPersonal(slot: number, f: Fact, now: number, trackSlot: number, artistSlot: number): void {
    if (!this.#users.fold(slot, f)) this.#lateForSessions++;
    const hi = this.#users.hi(slot);
    const lo = this.#users.lo(slot);
    if (trackSlot >= 0 || artistSlot >= 0) {
      const prepared = this.#trending.prepare(f.t, now);
      if (trackSlot >= 0) this.#trending.tracks.addListener(trackSlot, prepared, hi, lo);
      if (artistSlot >= 0) this.#trending.artists.addListener(artistSlot, prepared, hi, lo);
    }
    this.#activity.active(f.t, hi, lo);
  }

  #newUser(userId: string, now: number): number {
    const key = this.#currentKey(now);
    if (this.#users.size >= this.#l.maxUsers) {
      // CLOCK eviction: a user not active since the hand last passed.
      const victim = this.#users.victim();
      this.#vault.deletePseudonym(this.#users.pseudonym(victim));
      this.#users.free(victim);
      this.#evictedUsers++;
    }
    const ps = key.pseudonym(userId);
    const slot = this.#users.alloc(ps.id, ps.hi, ps.lo, now);
    this.#vault.set(userId, slot, ps.id);
    return slot;
  }

  #dropUser(userId: string): boolean {
    const slot = this.#vault.get(userId);
    if (slot === undefined) return false;
    this.#vault.deletePseudonym(this.#users.pseudonym(slot));
    this.#users.free(slot);
    this.#cache.clear();
    return true;
  }

  /** The key of the current epoch; at an epoch change, every record is re-keyed. */
  #currentKey(now: number): PseudonymKey {
    if (this.#key && now >= this.#epoch.start && now < this.#epoch.end) return this.#key;
    const started = performance.now();
    const epoch = epochOf(now);
    const key = this.#keys.key(epoch.id);
    const rotating = this.#key !== undefined;
    this.#epoch = epoch;
    this.#key = key;
    if (!rotating) return key;
    for (const [userId, slot] of this.#vault.entries()) {
      const ps = key.pseudonym(userId);
      const old = this.#users.pseudonym(slot);
      this.#users.rekey(slot, ps.id, ps.hi, ps.lo);
      this.#vault.set(userId, slot, ps.id, old);
    }
    this.#rotations++;
    this.#log.info(
      { epoch: epoch.id, users: this.#vault.size, ms: Math.round(performance.now() - started) },
      'analytics pseudonyms rotated',
    );
    return key;
  }

  // ---- queries -------------------------------------------------------------------------

  #cached<T>(key: string, compute: (now: number) => T): T {
    const now = this.#clock.now();
    const hit = this.#cache.get(key);
    if (hit && now - hit.at < this.#l.queryCacheMs && now >= hit.at) return hit.value as T;
    const value = compute(now);
    this.#cache.set(key, { at: now, value });
    return value;
  }

  trending(
    entity: TrendEntity,
    window: TrendWindow,
    limit: number,
  ): { entity: TrendEntity; window: TrendWindow; items: TrendingItem[]; updatedAt: string } {
    const all = this.#cached(`trending:${entity}:${window}`, (now) => ({
      items: this.#trending.top(entity, window, 100, now),
      updatedAt: iso(now),
    }));
    return { entity, window, items: all.items.slice(0, Math.max(0, limit)), updatedAt: all.updatedAt };
  }

  user(userId: string): UserAnalytics | undefined {
    const slot = this.#vault.get(userId);
    if (slot === undefined || this.#gate.known(userId) === false) return undefined;
    const { score, segment, sessions } = this.#assess(slot, this.#clock.now());
    return {
      userId,
      engagementScore: score,
      segment,
      sessions,
      topArtists: this.#users.topArtists(slot, 10),
      lastSeen: iso(this.#users.lastSeen(slot)),
    };
  }

  #assess(slot: number, now: number) {
    const sessions = this.#users.sessions(slot);
    const input = inputOf(this.#users, slot, now, sessions.count);
    const parts = engagement(input);
    return {
      score: parts.score,
      parts,
      segment: segmentOf(input, parts.score),
      sessions,
      activeDays28: input.activeDays28,
    };
  }

  segments(): { segments: Array<{ name: string; users: number; description: string }> } {
    const counts = this.#cached('segments', (now) => {
      const c = new Map<string, number>(SEGMENTS.map((s) => [s.name, 0]));
      for (const slot of this.#users.slots()) {
        const s = this.#assess(slot, now).segment;
        c.set(s, c.get(s)! + 1);
      }
      return c;
    });
    return {
      segments: SEGMENTS.map((s) => ({
        name: s.name,
        users: counts.get(s.name)!,
        description: s.description,
      })),
    };
  }

  segmentUsers(name: string): string[] | undefined {
    if (!SEGMENT_NAMES.has(name)) return undefined;
    const now = this.#clock.now();
    const out: string[] = [];
    for (const slot of this.#users.slots()) {
      if (this.#assess(slot, now).segment !== name) continue;
      const userId = this.#vault.userOf(this.#users.pseudonym(slot));
      if (userId !== undefined) out.push(userId);
    }
    return out;
  }

  overviewPart(): Overview {
    return this.#cached('overview', (now) => ({
      events: { total: this.#activity.total, perSecond: this.#activity.perSecond(now) },
      activeUsers: this.#activity.activeUsers(now),
      topTracks: this.#trending.mostPlayed('track', '1h', 10, now),
    }));
  }

  // ---- consent and GDPR ----------------------------------------------------------------

  /** PUT consent: without `analytics` the user's record and mapping are dropped at once. */
  consentChanged(userId: string, consent: Pick<ConsentFlags, 'analytics' | 'personalization'>): void {
    this.#gate.decide(userId, consent.analytics === true);
  }

  /** GDPR erasure: the user's record (counters, sessions, top artists), the pseudonym mapping, cached consent, held events. */
  forget(userId: string): void {
    this.#gate.forget(userId);
    const had = this.#dropUser(userId);
    this.#log.info({ hadRecord: had }, 'analytics state of a user erased');
  }

  /** Everything analytics holds about the user (GDPR export). */
  export(userId: string): Record<string, unknown> {
    const consent = this.#gate.known(userId);
    const slot = this.#vault.get(userId);
    const base = { userId, consentCached: consent === undefined ? null : { analytics: consent } };
    if (slot === undefined) return { ...base, profile: null };
    const u = this.#users;
    const a = this.#assess(slot, this.#clock.now());
    return {
      ...base,
      pseudonym: u.pseudonym(slot),
      pseudonymEpoch: this.#epoch.id,
      profile: {
        firstSeen: iso(u.firstSeen(slot)),
        lastSeen: iso(u.lastSeen(slot)),
        counts: u.counts(slot),
        sessions: {
          ...a.sessions,
          open: u.openSessions(slot).map(([s, e]) => ({ start: iso(s), lastEvent: iso(e) })),
          lateEvents: u.lateForSessions(slot),
        },
        activeDaysLast28: a.activeDays28,
        topArtists: u.topArtists(slot),
        network: u.network(slot) ?? null,
        platform: u.platform(slot) ?? null,
        engagement: a.parts,
        segment: a.segment,
      },
    };
  }

  // ---- operations ----------------------------------------------------------------------

  /** Resolves once no event waits for a consent lookup (tests, drain). */
  settled(): Promise<void> {
    return this.#gate.settled();
  }

  stats(): { trackedUsers: number; approxBytes: number } {
    let bytes = this.#users.approxBytes() + this.#trending.approxBytes() + this.#activity.approxBytes();
    bytes += this.#vault.size * 2 * (100 + 2 * 24); // both directions: entries and pseudonym strings
    bytes += this.#gate.cachedUsers * 90 + this.#gate.heldFacts * 120;
    return { trackedUsers: this.#users.size, approxBytes: bytes };
  }

  /** The analytics state itself, as plain data, without the mapping (audits, tests: no user id in it). */
  stateForAudit(): { users: unknown[]; trending: Record<string, unknown> } {
    const now = this.#clock.now();
    const trending: Record<string, unknown> = {};
    for (const e of ['track', 'artist'] as const)
      for (const w of TREND_WINDOWS) trending[`${e}:${w}`] = this.#trending.top(e, w, 100, now);
    return { users: [...this.#users.slots()].map((slot) => this.#users.record(slot)), trending };
  }
}

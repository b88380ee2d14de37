import { Counter, Gauge, type Registry } from 'prom-client';

/** What the metrics read at scrape time (the hot path keeps plain numbers, never a metric call). */
export interface AnalyticsSnapshot {
  folded: Record<string, number>;
  consent: { lookups: number; lookupErrors: number; granted: number; denied: number; dropped: number };
  anonymousOnly: number;
  lateForSessions: number;
  evicted: { users: number; tracks: number; artists: number };
  rotations: number;
  trackedUsers: number;
  trackedItems: { track: number; artist: number };
  heldFacts: number;
  approxBytes: () => number;
}

/**
 * `backbeat_analytics_*` on the app's registry. Counters are filled from the service's
 * own totals at scrape time (`collect`): counting per event through prom-client's label
 * lookup would cost more than the fold itself.
 */
export class AnalyticsMetrics {
  constructor(registry: Registry, read: () => AnalyticsSnapshot) {
    const registers = [registry];
    // Cheap (plain numbers; the byte estimate only when its gauge asks), so each collector reads afresh.
    const take = read;
    const setCounter = (c: Counter<string>, values: Record<string, number>, label: string) => {
      c.reset();
      for (const [k, v] of Object.entries(values)) if (v > 0) c.labels({ [label]: k }).inc(v);
    };
    new Counter({
      name: 'backbeat_analytics_events_folded_total',
      help: 'Events folded into analytics, by type (every user: anonymous totals included)',
      labelNames: ['type'] as const,
      registers,
      collect() {
        setCounter(this, take().folded, 'type');
      },
    });
    new Counter({
      name: 'backbeat_analytics_events_anonymous_total',
      help: 'Events of users without analytics consent: counted in anonymous totals only, nothing kept about the user',
      registers,
      collect() {
        this.reset();
        this.inc(take().anonymousOnly);
      },
    });
    new Counter({
      name: 'backbeat_analytics_consent_total',
      help: 'Consent lookups and their outcome: lookups, lookup_errors, granted, denied, dropped (facts dropped because consent was unavailable)',
      labelNames: ['outcome'] as const,
      registers,
      collect() {
        const c = take().consent;
        setCounter(
          this,
          {
            lookups: c.lookups,
            lookup_errors: c.lookupErrors,
            granted: c.granted,
            denied: c.denied,
            dropped: c.dropped,
          },
          'outcome',
        );
      },
    });
    new Counter({
      name: 'backbeat_analytics_late_session_events_total',
      help: 'Events later than the session grace: counted, but they change no session',
      registers,
      collect() {
        this.reset();
        this.inc(take().lateForSessions);
      },
    });
    new Counter({
      name: 'backbeat_analytics_evictions_total',
      help: 'State dropped to stay within its bound, by kind (user profiles, tracks, artists)',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        setCounter(this, take().evicted, 'kind');
      },
    });
    new Counter({
      name: 'backbeat_analytics_key_rotations_total',
      help: 'Pseudonym key rotations (every profile re-keyed)',
      registers,
      collect() {
        this.reset();
        this.inc(take().rotations);
      },
    });
    new Gauge({
      name: 'backbeat_analytics_tracked_users',
      help: 'User profiles held (consenting users, pseudonymous)',
      registers,
      collect() {
        this.set(take().trackedUsers);
      },
    });
    new Gauge({
      name: 'backbeat_analytics_tracked_items',
      help: 'Items held for trending, by entity',
      labelNames: ['entity'] as const,
      registers,
      collect() {
        const s = take().trackedItems;
        this.labels('track').set(s.track);
        this.labels('artist').set(s.artist);
      },
    });
    new Gauge({
      name: 'backbeat_analytics_held_events',
      help: 'Events waiting for a consent lookup',
      registers,
      collect() {
        this.set(take().heldFacts);
      },
    });
    new Gauge({
      name: 'backbeat_analytics_state_bytes',
      help: 'Estimated heap bytes of the analytics state',
      registers,
      collect() {
        this.set(take().approxBytes());
      },
    });
  }
}

/**
 * Test support for the analytics service (unit and e2e tests): a service on a ManualClock
 * with an in-memory consent table, and event builders. Not used by the service itself.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ManualClock } from '../core/time/index.ts';
import type { ConsentFlags, ConsentLookup } from './consent.ts';
import { epochOf, KEYS_FILE } from './pseudonyms.ts';
import type { AnalyticsEvent, AnalyticsLimits } from './options.ts';
import { AnalyticsService } from './service.ts';

export interface Harness {
  svc: AnalyticsService;
  clock: ManualClock;
  registry: Registry;
  dataDir: string;
  /** The store's consent rows (users never asked are absent). */
  consents: Map<string, ConsentFlags>;
  /** Every lookup the service made. */
  lookups: string[][];
  /** Feeds events as the stream processor does (awaiting a returned promise), then waits for consent lookups. */
  feed(events: AnalyticsEvent[], replay?: boolean): Promise<void>;
}

export interface HarnessOptions {
  consentDefault?: 'granted' | 'denied';
  limits?: Partial<AnalyticsLimits>;
  now?: number;
  dataDir?: string;
  /** Replaces the in-memory consent table (slow or failing stores). */
  lookup?: ConsentLookup;
}

export function harness(o: HarnessOptions = {}): Harness {
  const clock = new ManualClock(o.now ?? Date.UTC(2026, 0, 20, 12));
  const registry = new Registry();
  const consents = new Map<string, ConsentFlags>();
  const lookups: string[][] = [];
  let dataDir = o.dataDir;
  if (dataDir === undefined) {
    dataDir = mkdtempSync(join(tmpdir(), 'backbeat-analytics-'));
    // A fixed key for the start epoch: sketch estimates (listeners, active users) are then the same every run.
    const key = createHash('sha256').update('analytics test key').digest('base64');
    const file = {
      version: 1,
      keys: [{ epoch: epochOf(clock.now()).id, key, createdAt: new Date(0).toISOString() }],
    };
    writeFileSync(join(dataDir, KEYS_FILE), JSON.stringify(file), { mode: 0o600 });
  }
  const svc = new AnalyticsService({
    clock,
    logger: pino({ level: 'silent' }),
    registry,
    sessionGapMinutes: 30,
    consentDefault: o.consentDefault ?? 'granted',
    consent: async (ids) => {
      lookups.push([...ids]);
      if (o.lookup) return o.lookup(ids);
      return new Map(ids.flatMap((id) => (consents.has(id) ? [[id, consents.get(id)!] as const] : [])));
    },
    dataDir,
    limits: o.limits,
  });
  return {
    svc,
    clock,
    registry,
    dataDir,
    consents,
    lookups,
    async feed(events, replay = false) {
      for (const e of events) {
        const pending = svc.handler.handle(e, { replay, owner: true });
        if (pending) await pending;
      }
      await svc.settled();
    },
  };
}

let seq = 0;
const nextId = () => `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;

export const played = (
  userId: string,
  trackId: string,
  artistId: string,
  ts: number,
  data: Record<string, unknown> = {},
): AnalyticsEvent => ({
  id: nextId(),
  type: 'track.played',
  userId,
  ts,
  data: { trackId, artistId, durationMs: 200_000, playedMs: 190_000, ...data },
});

export const event = (
  type: string,
  userId: string,
  ts: number,
  data: Record<string, unknown>,
): AnalyticsEvent => ({ id: nextId(), type, userId, ts, data });

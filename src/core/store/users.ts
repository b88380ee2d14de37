import type { Clock } from '../time/index.ts';
import { chunks, col, marks, type Row, type SqlDriver } from './driver.ts';
import type { ConsentRepository, PreferenceRepository } from './port.ts';
import type { Consent, ConsentChoices, Preferences, StoredPreferences } from './types.ts';

function toPreferences(r: Row): StoredPreferences {
  const start = col.strOrNull(r['quiet_start']);
  const end = col.strOrNull(r['quiet_end']);
  return {
    userId: col.str(r['user_id']),
    timezone: col.strOrNull(r['timezone']),
    locale: col.strOrNull(r['locale']),
    quietHours: start !== null && end !== null ? { start, end } : null,
    optOut: col.json<string[]>(r['opt_out']),
    updatedAt: col.num(r['updated_at']),
  };
}

function toConsent(r: Row): Consent {
  return {
    userId: col.str(r['user_id']),
    analytics: col.bool(r['analytics']),
    personalization: col.bool(r['personalization']),
    marketing: col.bool(r['marketing']),
    updatedAt: col.num(r['updated_at']),
  };
}

/** Per-user notification preferences (`PUT /v1/users/{id}/preferences`): one row per user, replaced whole. */
export class SqlPreferenceRepository implements PreferenceRepository {
  readonly #db: SqlDriver;
  readonly #clock: Clock;

  constructor(db: SqlDriver, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async get(userId: string): Promise<StoredPreferences | null> {
    const row = await this.#db.get(
      'SELECT user_id, timezone, locale, quiet_start, quiet_end, opt_out, updated_at FROM preferences WHERE user_id = ?',
      [userId],
    );
    return row ? toPreferences(row) : null;
  }

  async getMany(userIds: readonly string[]): Promise<StoredPreferences[]> {
    const out: StoredPreferences[] = [];
    for (const ids of chunks([...new Set(userIds)], 1000)) {
      const rows = await this.#db.all(
        `SELECT user_id, timezone, locale, quiet_start, quiet_end, opt_out, updated_at FROM preferences WHERE user_id IN (${marks(ids.length)})`,
        ids,
      );
      for (const r of rows) out.push(toPreferences(r));
    }
    return out;
  }

  async put(userId: string, prefs: Preferences): Promise<StoredPreferences> {
    const row = await this.#db.get(
      `INSERT INTO preferences (user_id, timezone, locale, quiet_start, quiet_end, opt_out, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (user_id) DO UPDATE SET timezone = excluded.timezone, locale = excluded.locale, quiet_start = excluded.quiet_start,
          quiet_end = excluded.quiet_end, opt_out = excluded.opt_out, updated_at = excluded.updated_at
        RETURNING user_id, timezone, locale, quiet_start, quiet_end, opt_out, updated_at`,
      [
        userId,
        prefs.timezone,
        prefs.locale,
        prefs.quietHours?.start ?? null,
        prefs.quietHours?.end ?? null,
        JSON.stringify([...new Set(prefs.optOut)]),
        this.#clock.now(),
      ],
    );
    return toPreferences(row!);
  }
}

/** Per-user consent (SPEC §7): a user without a row was never asked. */
export class SqlConsentRepository implements ConsentRepository {
  readonly #db: SqlDriver;
  readonly #clock: Clock;

  constructor(db: SqlDriver, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async get(userId: string): Promise<Consent | null> {
    const row = await this.#db.get(
      'SELECT user_id, analytics, personalization, marketing, updated_at FROM consent WHERE user_id = ?',
      [userId],
    );
    return row ? toConsent(row) : null;
  }

  async getMany(userIds: readonly string[]): Promise<Consent[]> {
    const out: Consent[] = [];
    for (const ids of chunks([...new Set(userIds)], 1000)) {
      const rows = await this.#db.all(
        `SELECT user_id, analytics, personalization, marketing, updated_at FROM consent WHERE user_id IN (${marks(ids.length)})`,
        ids,
      );
      for (const r of rows) out.push(toConsent(r));
    }
    return out;
  }

  async put(userId: string, c: ConsentChoices): Promise<Consent> {
    const row = await this.#db.get(
      `INSERT INTO consent (user_id, analytics, personalization, marketing, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (user_id) DO UPDATE SET analytics = excluded.analytics, personalization = excluded.personalization,
          marketing = excluded.marketing, updated_at = excluded.updated_at
        RETURNING user_id, analytics, personalization, marketing, updated_at`,
      [userId, c.analytics, c.personalization, c.marketing, this.#clock.now()],
    );
    return toConsent(row!);
  }
}

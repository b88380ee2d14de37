import { randomUUID } from 'node:crypto';
import { BadRequestError } from '../errors/index.ts';
import type { Clock } from '../time/index.ts';
import { chunks, col, marks, pageLimit, type Row, type SqlDriver, type SqlExecutor } from './driver.ts';
import type { DeviceRepository } from './port.ts';
import type { Device, DeviceInfo, DeviceRegistration, Page, PageRequest, Platform } from './types.ts';

const COLUMNS =
  'id, user_id, platform, address, p256dh, auth, locale, timezone, topics, created_at, updated_at';
/** The same columns qualified, for joins. */
const D_COLUMNS = COLUMNS.split(', ')
  .map((c) => `d.${c}`)
  .join(', ');
const IN_CHUNK = 500;
const REGISTER_CHUNK = 500;

/** A multi-row upsert; `?` after the rows says whether the rows' topics replace the stored ones. */
const register = (
  rows: number,
): string => `INSERT INTO devices (${COLUMNS}) VALUES ${Array.from({ length: rows }, () => `(${marks(11)})`).join(', ')}
  ON CONFLICT (platform, address) DO UPDATE SET
    user_id = excluded.user_id,
    p256dh = excluded.p256dh,
    auth = excluded.auth,
    locale = COALESCE(excluded.locale, devices.locale),
    timezone = COALESCE(excluded.timezone, devices.timezone),
    topics = CASE WHEN ? THEN excluded.topics ELSE devices.topics END,
    updated_at = excluded.updated_at
  RETURNING id, platform, address`;

function toInfo(r: Row): DeviceInfo {
  return {
    id: col.str(r['id']),
    userId: col.str(r['user_id']),
    platform: col.str(r['platform']) as Platform,
    locale: col.strOrNull(r['locale']),
    timezone: col.strOrNull(r['timezone']),
    topics: col.json<string[]>(r['topics']),
    createdAt: col.num(r['created_at']),
    updatedAt: col.num(r['updated_at']),
  };
}

function toDevice(r: Row): Device {
  const info = toInfo(r);
  const address = col.str(r['address']);
  if (info.platform === 'web') {
    return {
      ...info,
      platform: 'web',
      subscription: { endpoint: address, keys: { p256dh: col.str(r['p256dh']), auth: col.str(r['auth']) } },
    };
  }
  return { ...info, platform: info.platform, token: address };
}

/** The unique address of a registration: its token, or its subscription's endpoint (with keys). */
function addressOf(reg: DeviceRegistration): { address: string; p256dh: string | null; auth: string | null } {
  if (reg.platform === 'web') {
    const s = reg.subscription;
    if (!s?.endpoint || !s.keys?.p256dh || !s.keys?.auth)
      throw new BadRequestError(
        'a web device needs subscription.endpoint and subscription.keys.{p256dh,auth}',
      );
    return { address: s.endpoint, p256dh: s.keys.p256dh, auth: s.keys.auth };
  }
  if (!reg.token) throw new BadRequestError(`an ${reg.platform} device needs a token`);
  return { address: reg.token, p256dh: null, auth: null };
}

function page<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items, next: more ? items[items.length - 1]!.id : null };
}

export class SqlDeviceRepository implements DeviceRepository {
  readonly #db: SqlDriver;
  readonly #clock: Clock;

  constructor(db: SqlDriver, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async register(reg: DeviceRegistration): Promise<{ id: string; created: boolean }> {
    return (await this.registerMany([reg]))[0]!;
  }

  async registerMany(regs: readonly DeviceRegistration[]): Promise<Array<{ id: string; created: boolean }>> {
    const now = this.#clock.now();
    const entries = regs.map((reg) => ({
      reg,
      ...addressOf(reg),
      topics: reg.topics === undefined ? undefined : [...new Set(reg.topics)],
      // A fresh id that comes back means the row was inserted; any other, that it existed.
      candidate: randomUUID(),
    }));
    const keyOf = (platform: string, address: string) => `${platform}\0${address}`;
    // One row per device and statement (an upsert may not touch a row twice): the last registration wins.
    const last = new Map(entries.map((e) => [keyOf(e.reg.platform, e.address), e]));
    const ids = await this.#db.transaction(async (tx) => {
      const got = new Map<string, string>();
      for (const withTopics of [false, true]) {
        const group = [...last.values()].filter((e) => (e.topics !== undefined) === withTopics);
        for (const part of chunks(group, REGISTER_CHUNK)) {
          const params = part.flatMap((e) => [
            e.candidate,
            e.reg.userId,
            e.reg.platform,
            e.address,
            e.p256dh,
            e.auth,
            e.reg.locale ?? null,
            e.reg.timezone ?? null,
            JSON.stringify(e.topics ?? []),
            now,
            now,
          ]);
          for (const row of await tx.all(register(part.length), [...params, withTopics])) {
            got.set(keyOf(col.str(row['platform']), col.str(row['address'])), col.str(row['id']));
          }
          if (withTopics)
            await this.#setTopics(
              tx,
              part.map((e) => ({ id: got.get(keyOf(e.reg.platform, e.address))!, topics: e.topics! })),
            );
        }
      }
      return got;
    });
    // Within one call, the first registration of a new device is the one that created it.
    const seen = new Set<string>();
    return entries.map((e) => {
      const key = keyOf(e.reg.platform, e.address);
      const id = ids.get(key)!;
      const created = id === last.get(key)!.candidate && !seen.has(key);
      seen.add(key);
      return { id, created };
    });
  }

  async get(id: string): Promise<Device | null> {
    const row = await this.#db.get(`SELECT ${COLUMNS} FROM devices WHERE id = ?`, [id]);
    return row ? toDevice(row) : null;
  }

  async getMany(ids: readonly string[]): Promise<Device[]> {
    const out: Device[] = [];
    for (const part of chunks([...new Set(ids)], IN_CHUNK)) {
      const rows = await this.#db.all(
        `SELECT ${COLUMNS} FROM devices WHERE id IN (${marks(part.length)})`,
        part,
      );
      out.push(...rows.map(toDevice));
    }
    return out;
  }

  async listByUser(userId: string): Promise<DeviceInfo[]> {
    const rows = await this.#db.all(
      'SELECT id, user_id, platform, locale, timezone, topics, created_at, updated_at FROM devices WHERE user_id = ? ORDER BY created_at, id',
      [userId],
    );
    return rows.map(toInfo);
  }

  async listByUserForSending(userId: string): Promise<Device[]> {
    return (
      await this.#db.all(`SELECT ${COLUMNS} FROM devices WHERE user_id = ? ORDER BY created_at, id`, [userId])
    ).map(toDevice);
  }

  async listForUsers(userIds: readonly string[]): Promise<Device[]> {
    const out: Device[] = [];
    for (const part of chunks([...new Set(userIds)], IN_CHUNK)) {
      const rows = await this.#db.all(
        `SELECT ${COLUMNS} FROM devices WHERE user_id IN (${marks(part.length)}) ORDER BY user_id, created_at, id`,
        part,
      );
      out.push(...rows.map(toDevice));
    }
    return out;
  }

  async listByTopic(topic: string, req: PageRequest = {}): Promise<Page<Device>> {
    const limit = pageLimit(req.limit);
    const rows = await this.#db.all(
      `SELECT ${D_COLUMNS} FROM device_topics t JOIN devices d ON d.id = t.device_id
        WHERE t.topic = ? AND t.device_id > ? ORDER BY t.device_id LIMIT ?`,
      [topic, req.after ?? '', limit + 1],
    );
    return page(rows.map(toDevice), limit);
  }

  async page(req: PageRequest = {}): Promise<Page<Device>> {
    const limit = pageLimit(req.limit);
    const rows = await this.#db.all(`SELECT ${COLUMNS} FROM devices WHERE id > ? ORDER BY id LIMIT ?`, [
      req.after ?? '',
      limit + 1,
    ]);
    return page(rows.map(toDevice), limit);
  }

  async count(): Promise<number> {
    return col.num((await this.#db.get('SELECT COUNT(*) AS n FROM devices'))?.['n']);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.#db.run('DELETE FROM devices WHERE id = ?', [id])) > 0;
  }

  async deleteDead(platform: Platform, tokenOrEndpoint: string): Promise<boolean> {
    return (
      (await this.#db.run('DELETE FROM devices WHERE platform = ? AND address = ?', [
        platform,
        tokenOrEndpoint,
      ])) > 0
    );
  }

  async #setTopics(tx: SqlExecutor, devices: ReadonlyArray<{ id: string; topics: string[] }>): Promise<void> {
    await tx.run(
      `DELETE FROM device_topics WHERE device_id IN (${marks(devices.length)})`,
      devices.map((d) => d.id),
    );
    const pairs = devices.flatMap((d) => d.topics.map((t) => [t, d.id]));
    for (const part of chunks(pairs, IN_CHUNK)) {
      await tx.run(
        `INSERT INTO device_topics (topic, device_id) VALUES ${part.map(() => '(?, ?)').join(', ')}`,
        part.flat(),
      );
    }
  }
}

import type { SessionRecord, SessionStore } from '../ports.ts';
import type { ScriptedRedis } from './connection.ts';

/** Resumable sessions in Redis, so a client can resume on any node. `take` is GETDEL: once. */
export class RedisSessionStore implements SessionStore {
  readonly #redis: ScriptedRedis;
  readonly #prefix: string;

  constructor(opts: { redis: ScriptedRedis; prefix: string }) {
    this.#redis = opts.redis;
    this.#prefix = opts.prefix;
  }

  async save(id: string, record: SessionRecord, ttlMs: number): Promise<void> {
    await this.#redis.set(`${this.#prefix}sess:${id}`, JSON.stringify(record), 'PX', Math.max(1, Math.floor(ttlMs)));
  }

  async take(id: string): Promise<SessionRecord | undefined> {
    const raw = await this.#redis.getdel(`${this.#prefix}sess:${id}`);
    return raw === null ? undefined : (JSON.parse(raw) as SessionRecord);
  }

  async close(): Promise<void> {}
}

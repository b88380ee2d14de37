import type { SessionRecord, SessionStore } from '../ports.ts';
import type { ScriptedRedis } from './connection.ts';

/**
 * Resumable sessions in Redis, so a client can resume on any node. `take` is GETDEL: once.
 * The key holds the owner (`sess:<user>:<id>`), so another user's `take` of the same id
 * finds nothing and consumes nothing.
 */
export class RedisSessionStore implements SessionStore {
  readonly #redis: ScriptedRedis;
  readonly #prefix: string;

  constructor(opts: { redis: ScriptedRedis; prefix: string }) {
    this.#redis = opts.redis;
    this.#prefix = opts.prefix;
  }

  async save(id: string, record: SessionRecord, ttlMs: number): Promise<void> {
    await this.#redis.set(
      `${this.#prefix}sess:${record.user}:${id}`,
      JSON.stringify(record),
      'PX',
      Math.max(1, Math.floor(ttlMs)),
    );
  }

  async take(id: string, user: string): Promise<SessionRecord | undefined> {
    const raw = await this.#redis.getdel(`${this.#prefix}sess:${user}:${id}`);
    return raw === null ? undefined : (JSON.parse(raw) as SessionRecord);
  }

  async close(): Promise<void> {}
}

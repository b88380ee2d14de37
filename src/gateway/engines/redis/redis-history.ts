import { randomBytes } from 'node:crypto';
import type { Clock } from '../../../core/time/index.ts';
import type { History, HistoryPage, HistoryQuery, Publication, StreamPosition } from '../ports.ts';
import type { ScriptedRedis } from './connection.ts';

export interface RedisHistoryOptions {
  redis: ScriptedRedis;
  prefix: string;
  clock: Clock;
  size: number;
  ttlMs: number;
  metaTtlMs: number;
}

const newEpoch = (): string => randomBytes(6).toString('base64url');

/**
 * History in Redis: a hash with the channel's epoch and top offset, and a stream whose
 * entry ids are `0-<offset>`, trimmed to `size`. Publications older than `ttlMs` are
 * filtered on read (and the whole stream expires `ttlMs` after the last publication).
 */
export class RedisHistory implements History {
  readonly #o: RedisHistoryOptions;

  constructor(opts: RedisHistoryOptions) {
    this.#o = opts;
  }

  keys(channel: string): [meta: string, stream: string] {
    return [`${this.#o.prefix}h:{${channel}}:m`, `${this.#o.prefix}h:{${channel}}:s`];
  }

  /**
   * Appends and, with a `mode`, publishes on `pubsubChannel` in the same script
   * ('p' PUBLISH, 's' SPUBLISH on a Redis Cluster).
   */
  async appendAndPublish(
    channel: string,
    pub: Omit<Publication, 'offset'>,
    pubsubChannel: string,
    mode: '' | 'p' | 's',
  ): Promise<{ publication: Publication; epoch: string }> {
    const [meta, stream] = this.keys(channel);
    const fields = JSON.stringify({
      data: pub.data,
      ts: pub.ts,
      ...(pub.info ? { info: pub.info } : {}),
      ...(pub.trace ? { trace: pub.trace } : {}),
    }).slice(1, -1);
    const [offset, epoch] = await this.#o.redis.bbAppend(
      meta,
      stream,
      pubsubChannel,
      newEpoch(),
      this.#o.metaTtlMs,
      fields,
      this.#o.size,
      this.#o.ttlMs,
      mode,
    );
    return { publication: { ...pub, offset: Number(offset) }, epoch };
  }

  append(
    channel: string,
    pub: Omit<Publication, 'offset'>,
  ): Promise<{ publication: Publication; epoch: string }> {
    return this.appendAndPublish(channel, pub, `${this.#o.prefix}c:{${channel}}`, '');
  }

  async read(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    const [meta, stream] = this.keys(channel);
    const limit = Math.max(0, query.limit);
    const since = query.since;
    const res = await this.#o.redis.bbRead(
      meta,
      stream,
      newEpoch(),
      this.#o.metaTtlMs,
      since ? 'since' : 'latest',
      since?.offset ?? 0,
      since?.epoch ?? '',
      limit,
    );
    const [top, epoch, foreign] = [Number(res[0]), String(res[1]), Number(res[2])];
    let pubs = (res.slice(3) as string[]).map((e) => JSON.parse(e) as Publication);
    if (!since) pubs.reverse();
    if (this.#o.ttlMs > 0) {
      const cutoff = this.#o.clock.now() - this.#o.ttlMs;
      pubs = pubs.filter((p) => p.ts > cutoff);
    }
    const position: StreamPosition = { offset: top, epoch };
    if (!since) return { position, publications: pubs, complete: true };
    if (foreign === 1) return { position, publications: pubs, complete: false };
    const missing = top - since.offset;
    const complete =
      missing === 0 || (missing <= limit && pubs[0]?.offset === since.offset + 1 && pubs.length === missing);
    return { position, publications: pubs, complete };
  }

  async position(channel: string): Promise<StreamPosition> {
    return (await this.read(channel, { limit: 0 })).position;
  }

  async remove(channel: string): Promise<void> {
    await this.#o.redis.del(...this.keys(channel));
  }

  async close(): Promise<void> {}
}

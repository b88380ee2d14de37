import type { Logger } from '../../../core/observability/index.ts';
import type { Broker, BrokerHandler, ClientInfo, ControlMessage, Publication } from '../ports.ts';
import type { ScriptedRedis } from './connection.ts';

/** Wire format on Redis pub/sub: publications, joins, leaves (per channel) and control messages. */
type Wire = { t: 'p'; e: string; p: Publication } | { t: 'j' | 'l'; i: ClientInfo };

/**
 * Cross-node fan-out over Redis pub/sub. One subscriber connection per node; a channel
 * is subscribed once per node. ioredis re-subscribes after a reconnect; the handler is
 * then asked to resync, because anything published during the outage was not heard.
 */
export class RedisBroker implements Broker {
  readonly #pub: ScriptedRedis;
  readonly #sub: ScriptedRedis;
  readonly #prefix: string;
  readonly #log: Logger;
  #handler: BrokerHandler | undefined;
  #readyOnce = false;
  /** Sharded pub/sub (SPUBLISH/SSUBSCRIBE) on a Redis Cluster; classic pub/sub otherwise. */
  readonly sharded: boolean;
  /** Resolves once the control channel is subscribed (engines.start() waits for it). */
  readonly ready: Promise<void>;
  #markReady: () => void = () => undefined;

  constructor(opts: {
    pub: ScriptedRedis;
    sub: ScriptedRedis;
    prefix: string;
    logger: Logger;
    sharded: boolean;
  }) {
    this.#pub = opts.pub;
    this.#sub = opts.sub;
    this.#prefix = opts.prefix;
    this.#log = opts.logger;
    this.sharded = opts.sharded;
    this.ready = new Promise((resolve) => (this.#markReady = resolve));
    this.#sub.on('message', (ch: string, msg: string) => this.#onMessage(ch, msg));
    this.#sub.on('smessage', (ch: string, msg: string) => this.#onMessage(ch, msg));
    this.#sub.on('ready', () => {
      if (this.#readyOnce) {
        // ioredis has re-subscribed every channel; what was published meanwhile is in history.
        this.#log.warn('redis subscriber reconnected; resyncing channels from history');
        this.#handler?.onResync();
        return;
      }
      this.#readyOnce = true;
      this.#sub.subscribe(this.controlChannel).then(
        () => this.#markReady(),
        (err: unknown) => this.#log.error({ err }, 'control subscribe failed'),
      );
    });
  }

  get controlChannel(): string {
    return `${this.#prefix}ctl`;
  }

  /** The pub/sub channel of a Backbeat channel; its `{…}` hash tag matches the channel's history keys. */
  channelKey(channel: string): string {
    return `${this.#prefix}c:{${channel}}`;
  }

  #send(key: string, msg: string): Promise<unknown> {
    return this.sharded ? this.#pub.spublish(key, msg) : this.#pub.publish(key, msg);
  }

  get subscriberReady(): boolean {
    return this.#sub.status === 'ready';
  }

  setHandler(handler: BrokerHandler): void {
    this.#handler = handler;
  }

  async publish(channel: string, pub: Publication, epoch: string): Promise<void> {
    await this.#send(this.channelKey(channel), JSON.stringify({ t: 'p', e: epoch, p: pub } satisfies Wire));
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.#send(this.channelKey(channel), JSON.stringify({ t: 'j', i: info } satisfies Wire));
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.#send(this.channelKey(channel), JSON.stringify({ t: 'l', i: info } satisfies Wire));
  }

  async publishControl(msg: ControlMessage): Promise<void> {
    await this.#pub.publish(this.controlChannel, JSON.stringify(msg));
  }

  async subscribe(channel: string): Promise<void> {
    if (this.sharded) await this.#sub.ssubscribe(this.channelKey(channel));
    else await this.#sub.subscribe(this.channelKey(channel));
  }

  async unsubscribe(channel: string): Promise<void> {
    if (this.sharded) await this.#sub.sunsubscribe(this.channelKey(channel));
    else await this.#sub.unsubscribe(this.channelKey(channel));
  }

  async close(): Promise<void> {
    this.#handler = undefined;
  }

  #onMessage(redisChannel: string, raw: string): void {
    const h = this.#handler;
    if (!h) return;
    try {
      if (redisChannel === this.controlChannel) {
        h.onControl(JSON.parse(raw) as ControlMessage);
        return;
      }
      const channel = redisChannel.slice(this.#prefix.length + 3, -1); // `<prefix>c:{<channel>}`
      const msg = JSON.parse(raw) as Wire;
      if (msg.t === 'p') h.onPublication(channel, msg.p, msg.e);
      else if (msg.t === 'j') h.onJoin(channel, msg.i);
      else h.onLeave(channel, msg.i);
    } catch (err) {
      this.#log.error({ err, channel: redisChannel }, 'bad message on redis pub/sub');
    }
  }
}

import { Emitter } from './emitter.ts';
import { OffsetTracker, type TrackedPublication } from './tracker.ts';
import type { ClientInfo, HistoryResult } from './types.ts';

export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';

export interface SubscriptionEvents extends Record<string, unknown> {
  /** A publication, delivered once and in offset order. */
  publication: TrackedPublication;
  /** (Re)subscribed. `recovered:false` after a reconnect means publications may have been missed. */
  subscribed: { offset: number; epoch: string; recovered: boolean; resubscribe: boolean };
  /** Offsets in (from, to] could not be recovered (history no longer had them). */
  lost: { from: number; to: number };
  join: ClientInfo;
  leave: ClientInfo;
  state: SubscriptionState;
  error: Error;
}

/** What a Subscription needs from its client (kept narrow so both stay testable). */
export interface SubscriptionHost {
  command(cmd: Record<string, unknown>): Promise<Record<string, unknown>>;
  history(
    channel: string,
    opts: { since?: { offset: number; epoch: string }; limit?: number },
  ): Promise<HistoryResult>;
  presence(channel: string): Promise<ClientInfo[]>;
  publish(channel: string, data: unknown): Promise<{ offset: number }>;
  removeSubscription(channel: string): void;
}

/**
 * One channel subscription. It survives reconnects: the client resubscribes it with
 * `recover` from the last offset the app received, so publications missed while away
 * are delivered (or reported lost), never duplicated.
 */
export class Subscription extends Emitter<SubscriptionEvents> {
  readonly channel: string;
  readonly presenceEvents: boolean;
  state: SubscriptionState = 'unsubscribed';
  readonly #host: SubscriptionHost;
  readonly tracker: OffsetTracker;

  constructor(
    host: SubscriptionHost,
    channel: string,
    opts: { presence?: boolean; since?: { offset: number; epoch: string } } = {},
  ) {
    super();
    this.#host = host;
    this.channel = channel;
    this.presenceEvents = opts.presence === true;
    this.tracker = new OffsetTracker({
      deliver: (p) => this.emit('publication', p),
      fetch: async (offset, limit) => {
        const h = await this.#host.history(this.channel, {
          since: { offset, epoch: this.tracker.epoch },
          limit: Math.min(limit, 10_000),
        });
        return h.epoch === this.tracker.epoch ? h.publications : [];
      },
      lost: (from, to) => this.emit('lost', { from, to }),
    });
    if (opts.since) this.tracker.reset(opts.since.offset, opts.since.epoch);
  }

  /** Last offset delivered to the app and its epoch (store it to resume across app restarts). */
  get position(): { offset: number; epoch: string } | undefined {
    return this.tracker.offset < 0 ? undefined : { offset: this.tracker.offset, epoch: this.tracker.epoch };
  }

  publish(data: unknown): Promise<{ offset: number }> {
    return this.#host.publish(this.channel, data);
  }

  presence(): Promise<ClientInfo[]> {
    return this.#host.presence(this.channel);
  }

  history(opts: { since?: { offset: number; epoch: string }; limit?: number } = {}): Promise<HistoryResult> {
    return this.#host.history(this.channel, opts);
  }

  /** Stops the subscription (locally at once; the server is told when connected). */
  async unsubscribe(): Promise<void> {
    this.#host.removeSubscription(this.channel);
    const was = this.state;
    this.#setState('unsubscribed');
    if (was !== 'unsubscribed')
      await this.#host.command({ type: 'unsubscribe', channel: this.channel }).catch(() => undefined);
  }

  /** @internal Sends subscribe (with recover when there is a position) and applies the reply. */
  async subscribeOnServer(resubscribe: boolean): Promise<void> {
    this.#setState('subscribing');
    const cmd: Record<string, unknown> = { type: 'subscribe', channel: this.channel };
    if (this.presenceEvents) cmd['presence'] = true;
    const pos = this.position;
    if (pos) cmd['recover'] = pos;
    const r = (await this.#host.command(cmd)) as {
      offset: number;
      epoch: string;
      recovered: boolean;
      publications: TrackedPublication[];
    };
    this.applySubscribed(
      r.offset,
      r.epoch,
      pos ? r.recovered : true,
      r.publications,
      resubscribe,
      pos !== undefined,
    );
  }

  /** @internal Applies a subscribed reply (or a restored session entry). */
  applySubscribed(
    top: number,
    epoch: string,
    recovered: boolean,
    pubs: TrackedPublication[],
    resubscribe: boolean,
    hadPosition: boolean,
  ): void {
    const sameEpoch = epoch === this.tracker.epoch;
    if (!hadPosition || !sameEpoch) {
      // A new stream (or the channel's history was lost): start from its top.
      this.tracker.reset(top, epoch);
    } else {
      for (const p of pubs) this.tracker.push(p);
      if (!recovered && this.tracker.offset < top) void this.tracker.fill(top);
    }
    this.#setState('subscribed');
    this.emit('subscribed', {
      offset: top,
      epoch,
      recovered: hadPosition ? recovered && sameEpoch : true,
      resubscribe,
    });
  }

  /** @internal A command on behalf of this subscription failed. */
  fail(err: unknown): void {
    this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  /** @internal */
  handleMessage(p: TrackedPublication): void {
    if (this.state === 'unsubscribed') return;
    this.tracker.push(p);
  }

  /** @internal */
  handlePresence(type: 'join' | 'leave', info: ClientInfo): void {
    this.emit(type, info);
  }

  /** @internal The connection went away; the subscription waits to be resubscribed. */
  suspend(): void {
    if (this.state !== 'unsubscribed') this.#setState('subscribing');
  }

  #setState(s: SubscriptionState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }
}

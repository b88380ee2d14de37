import type { Logger } from '../core/observability/index.ts';
import type { Connection, PendingFrame, Subscription } from './connection.ts';
import type { GatewayMetrics } from './metrics.ts';
import { WireFrame } from './outbound.ts';
import type {
  Broker,
  BrokerHandler,
  ClientInfo,
  ControlMessage,
  History,
  HistoryPage,
  Publication,
  StreamPosition,
} from './engines/ports.ts';

/** How the hub hands a frame to a connection (the gateway's bounded, corked send). */
export interface FrameSender {
  send(conn: Connection, frame: Buffer | string): void;
  /** Queues a frame encoded once for many connections; false when it was not queued. */
  write(conn: Connection, frame: WireFrame): boolean;
  /** Closes a connection whose stream cannot be repaired (it reconnects and recovers). */
  resync(conn: Connection, channel: string): void;
  onControl(msg: ControlMessage): void;
}

interface LocalChannel {
  readonly subs: Set<Subscription>;
  /** Broker subscription for this node; every subscriber waits on it. */
  ready: Promise<void>;
  epoch: string;
  /** Last offset this node delivered on the channel. */
  offset: number;
  /** Non-null while repairing a gap from history: publications that arrived meanwhile. */
  repairing: Publication[] | null;
}

/** A publication as clients see it (PUB in SPEC §3): no trace headers. */
export function wirePublication(p: Publication): Record<string, unknown> {
  return p.info
    ? { offset: p.offset, data: p.data, info: p.info, ts: p.ts }
    : { offset: p.offset, data: p.data, ts: p.ts };
}

/** The `message` push of a publication, as JSON text (one object shape, with or without `info`). */
export function messageFrame(channel: string, pub: Publication): string {
  return JSON.stringify(
    pub.info
      ? { type: 'message', channel, offset: pub.offset, data: pub.data, info: pub.info }
      : { type: 'message', channel, offset: pub.offset, data: pub.data },
  );
}

/**
 * This node's channel → local subscribers map and the fan-out path. Publications are
 * serialized once per channel and the same bytes are queued to every subscriber. Each
 * subscription keeps the last offset it delivered (`floor`), so duplicates are dropped
 * and a publication racing a subscribe is delivered exactly once, after the reply.
 * Offsets that jump (a lost cross-node message) are repaired from history before
 * anything later is delivered.
 */
export class Hub implements BrokerHandler {
  readonly #channels = new Map<string, LocalChannel>();
  readonly #broker: Broker;
  readonly #history: History;
  readonly #sender: FrameSender;
  readonly #metrics: GatewayMetrics;
  readonly #log: Logger;

  constructor(deps: {
    broker: Broker;
    history: History;
    sender: FrameSender;
    metrics: GatewayMetrics;
    logger: Logger;
  }) {
    this.#broker = deps.broker;
    this.#history = deps.history;
    this.#sender = deps.sender;
    this.#metrics = deps.metrics;
    this.#log = deps.logger;
    this.#broker.setHandler(this);
  }

  /**
   * Adds a subscription and returns the channel position (and, with `recover`, the
   * publications after it). Live publications are held until `activate()`.
   */
  async subscribe(
    conn: Connection,
    channel: string,
    presence: boolean,
    recover: StreamPosition | undefined,
    recoverLimit: number,
  ): Promise<{ sub: Subscription; page: HistoryPage }> {
    const sub: Subscription = {
      conn,
      channel,
      presence,
      floor: Number.MAX_SAFE_INTEGER,
      epoch: '',
      pending: [],
    };
    (conn.subs ??= new Map()).set(channel, sub);
    let local = this.#channels.get(channel);
    if (!local) {
      local = {
        subs: new Set(),
        ready: this.#broker.subscribe(channel),
        epoch: '',
        offset: 0,
        repairing: null,
      };
      this.#channels.set(channel, local);
      this.#metrics.channels.set(this.#channels.size);
    }
    local.subs.add(sub);
    try {
      await local.ready;
      const page = recover
        ? await this.#history.read(channel, { since: recover, limit: recoverLimit })
        : { position: await this.#history.position(channel), publications: [], complete: true };
      if (local.epoch === '') {
        local.epoch = page.position.epoch;
        local.offset = page.position.offset;
      }
      const last = page.publications.at(-1)?.offset ?? 0;
      sub.floor = Math.max(page.position.offset, last);
      sub.epoch = page.position.epoch;
      return { sub, page };
    } catch (err) {
      this.remove(sub);
      throw err;
    }
  }

  /** Delivers what arrived while subscribing (after the reply was queued) and goes live. */
  activate(sub: Subscription): void {
    const pending = sub.pending;
    sub.pending = null;
    if (!pending) return;
    for (const p of pending) this.#deliverTo(sub, p);
  }

  /** Removes a subscription; the node unsubscribes from the broker with the last one. */
  remove(sub: Subscription): void {
    if (sub.conn.subs?.get(sub.channel) === sub) sub.conn.subs.delete(sub.channel);
    const local = this.#channels.get(sub.channel);
    if (!local || !local.subs.delete(sub)) return;
    if (local.subs.size === 0) {
      this.#channels.delete(sub.channel);
      this.#metrics.channels.set(this.#channels.size);
      this.#broker
        .unsubscribe(sub.channel)
        .catch((err: unknown) => this.#log.warn({ err, channel: sub.channel }, 'broker unsubscribe failed'));
    }
  }

  onPublication(channel: string, pub: Publication, epoch: string): void {
    const local = this.#channels.get(channel);
    if (!local) return;
    if (local.repairing) {
      local.repairing.push(pub);
      return;
    }
    if (local.epoch !== epoch) {
      // First publication seen on this node, or the channel's history was lost: rebase.
      if (local.epoch !== '') {
        for (const sub of local.subs) {
          sub.floor = pub.offset - 1;
          sub.epoch = epoch;
        }
      }
      local.epoch = epoch;
      local.offset = pub.offset - 1;
    }
    if (pub.offset <= local.offset) return;
    if (pub.offset > local.offset + 1) {
      this.#repair(channel, local, pub);
      return;
    }
    this.#fanOut(channel, local, pub);
  }

  onJoin(channel: string, info: ClientInfo): void {
    this.#presenceEvent(channel, 'join', info);
  }

  onLeave(channel: string, info: ClientInfo): void {
    this.#presenceEvent(channel, 'leave', info);
  }

  onControl(msg: ControlMessage): void {
    this.#sender.onControl(msg);
  }

  /** After a broker outage: anything published meanwhile is fetched from history. */
  onResync(): void {
    for (const [channel, local] of this.#channels) {
      if (local.repairing || local.epoch === '') continue;
      this.#history
        .position(channel)
        .then((pos) => {
          if (local.repairing || this.#channels.get(channel) !== local) return;
          if (pos.epoch !== local.epoch) {
            this.#log.warn(
              { channel },
              'history epoch changed during broker outage; subscribers must recover',
            );
            for (const sub of local.subs) this.#sender.resync(sub.conn, channel);
          } else if (pos.offset > local.offset) {
            this.#repair(channel, local, undefined, pos.offset);
          }
        })
        .catch((err: unknown) => this.#log.warn({ err, channel }, 'resync position read failed'));
    }
  }

  #fanOut(channel: string, local: LocalChannel, pub: Publication): void {
    local.offset = pub.offset;
    // Serialized and framed once; the same bytes are queued to every subscriber.
    const p: PendingFrame = { offset: pub.offset, frame: new WireFrame(messageFrame(channel, pub)) };
    let n = 0;
    for (const sub of local.subs) if (this.#deliverTo(sub, p)) n++;
    this.#metrics.framesOut += n;
    this.#metrics.frameBytesOut += n * p.frame.payloadBytes;
  }

  /** Queues `p` to one subscriber (or holds it while subscribing); true when queued. */
  #deliverTo(sub: Subscription, p: PendingFrame): boolean {
    if (sub.pending) {
      sub.pending.push(p);
      return false;
    }
    if (p.offset <= sub.floor) return false;
    if (p.offset > sub.floor + 1) {
      // This subscriber's view has a hole the channel does not (it subscribed at a
      // position that moved on); it can only be told to recover.
      this.#sender.resync(sub.conn, sub.channel);
      return false;
    }
    sub.floor = p.offset;
    return this.#sender.write(sub.conn, p.frame);
  }

  /**
   * Fetches what this node missed before `pub` (or up to offset `to`) from history and
   * delivers it in order. What history no longer has cannot be delivered: subscribers
   * are told to reconnect and recover (they then learn `recovered:false`).
   */
  #repair(channel: string, local: LocalChannel, pub: Publication | undefined, to?: number): void {
    const held: Publication[] = pub ? [pub] : [];
    const target = pub ? pub.offset - 1 : (to ?? local.offset);
    local.repairing = held;
    const since = { offset: local.offset, epoch: local.epoch };
    this.#log.warn({ channel, from: local.offset, to: target }, 'offset gap, repairing from history');
    const finish = (repaired: boolean): void => {
      local.repairing = null;
      if (!repaired) {
        for (const sub of local.subs) this.#sender.resync(sub.conn, channel);
        local.offset = Math.max(local.offset, target);
      }
      for (const p of held.sort((a, b) => a.offset - b.offset)) this.onPublication(channel, p, local.epoch);
    };
    this.#history
      .read(channel, { since, limit: Math.max(1, target - local.offset) })
      .then((page) => {
        if (page.position.epoch === local.epoch) {
          for (const p of page.publications)
            if (p.offset === local.offset + 1 && p.offset <= target) this.#fanOut(channel, local, p);
        }
        if (local.offset < target)
          this.#log.warn({ channel, at: local.offset, target }, 'gap not repairable from history');
        finish(local.offset >= target);
      })
      .catch((err: unknown) => {
        this.#log.error({ err, channel }, 'gap repair failed');
        finish(false);
      });
  }

  #presenceEvent(channel: string, type: 'join' | 'leave', info: ClientInfo): void {
    const local = this.#channels.get(channel);
    if (!local) return;
    let frame: WireFrame | undefined;
    for (const sub of local.subs) {
      if (!sub.presence || sub.conn.id === info.client || sub.pending) continue;
      frame ??= new WireFrame(JSON.stringify({ type, channel, info }));
      this.#sender.write(sub.conn, frame);
    }
  }
}

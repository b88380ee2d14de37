import type { Broker, BrokerHandler, ClientInfo, ControlMessage, Publication } from '../ports.ts';

/**
 * Single-process broker: the node is the whole cluster, so publishing is handing the
 * publication to this node's handler, synchronously and in order.
 */
export class MemoryBroker implements Broker {
  #handler: BrokerHandler | undefined;
  readonly #subscribed = new Set<string>();

  setHandler(handler: BrokerHandler): void {
    this.#handler = handler;
  }

  async publish(channel: string, pub: Publication, epoch: string): Promise<void> {
    this.deliver(channel, pub, epoch);
  }

  /** `publish`, synchronously (the memory engines' publish path). */
  deliver(channel: string, pub: Publication, epoch: string): void {
    if (this.#subscribed.has(channel)) this.#handler?.onPublication(channel, pub, epoch);
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    if (this.#subscribed.has(channel)) this.#handler?.onJoin(channel, info);
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    if (this.#subscribed.has(channel)) this.#handler?.onLeave(channel, info);
  }

  async publishControl(msg: ControlMessage): Promise<void> {
    this.#handler?.onControl(msg);
  }

  async subscribe(channel: string): Promise<void> {
    this.#subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#subscribed.delete(channel);
  }

  async close(): Promise<void> {
    this.#subscribed.clear();
    this.#handler = undefined;
  }
}

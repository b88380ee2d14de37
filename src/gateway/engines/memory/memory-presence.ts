import type { ClientInfo, Presence } from '../ports.ts';

/** Channel → client → info, in this process. */
export class MemoryPresence implements Presence {
  readonly #channels = new Map<string, Map<string, Required<ClientInfo>>>();

  async add(channel: string, info: Required<ClientInfo>): Promise<void> {
    let members = this.#channels.get(channel);
    if (!members) this.#channels.set(channel, (members = new Map<string, Required<ClientInfo>>()));
    members.set(info.client, { user: info.user, client: info.client });
  }

  async remove(channel: string, client: string): Promise<void> {
    const members = this.#channels.get(channel);
    if (!members) return;
    members.delete(client);
    if (members.size === 0) this.#channels.delete(channel);
  }

  async list(channel: string): Promise<Required<ClientInfo>[]> {
    return [...(this.#channels.get(channel)?.values() ?? [])];
  }

  async close(): Promise<void> {
    this.#channels.clear();
  }
}

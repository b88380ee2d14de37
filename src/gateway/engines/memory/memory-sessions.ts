import type { Clock } from '../../../core/time/index.ts';
import type { SessionRecord, SessionStore } from '../ports.ts';

/** Sessions are keyed by owner and id, so only the owner can find (and consume) one. */
const key = (id: string, user: string): string => `${user}\u0000${id}`;

/** Resumable sessions kept in this process until their TTL. */
export class MemorySessionStore implements SessionStore {
  readonly #clock: Clock;
  readonly #sessions = new Map<string, { record: SessionRecord; expiresAt: number }>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  async save(id: string, record: SessionRecord, ttlMs: number): Promise<void> {
    this.#prune();
    this.#sessions.set(key(id, record.user), {
      record: structuredClone(record),
      expiresAt: this.#clock.now() + ttlMs,
    });
  }

  async take(id: string, user: string): Promise<SessionRecord | undefined> {
    const k = key(id, user);
    const s = this.#sessions.get(k);
    this.#sessions.delete(k);
    if (!s || s.expiresAt <= this.#clock.now()) return undefined;
    return s.record;
  }

  async close(): Promise<void> {
    this.#sessions.clear();
  }

  #prune(): void {
    const now = this.#clock.now();
    for (const [id, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(id);
  }
}

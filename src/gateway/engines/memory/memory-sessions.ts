import type { Clock } from '../../../core/time/index.ts';
import type { SessionRecord, SessionStore } from '../ports.ts';

/** Resumable sessions kept in this process until their TTL. */
export class MemorySessionStore implements SessionStore {
  readonly #clock: Clock;
  readonly #sessions = new Map<string, { record: SessionRecord; expiresAt: number }>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  async save(id: string, record: SessionRecord, ttlMs: number): Promise<void> {
    this.#prune();
    this.#sessions.set(id, { record: structuredClone(record), expiresAt: this.#clock.now() + ttlMs });
  }

  async take(id: string): Promise<SessionRecord | undefined> {
    const s = this.#sessions.get(id);
    this.#sessions.delete(id);
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

import type { Clock } from '../../../core/time/index.ts';
import type { Engines, Publication } from '../ports.ts';
import { closePorts } from '../close-ports.ts';
import { MemoryBroker } from './memory-broker.ts';
import { MemoryHistory } from './memory-history.ts';
import { MemoryPresence } from './memory-presence.ts';
import { MemoryRateLimiter } from './memory-rate-limiter.ts';
import { MemorySessionStore } from './memory-sessions.ts';

export { MemoryBroker, MemoryHistory, MemoryPresence, MemoryRateLimiter, MemorySessionStore };
export { SlidingWindowLog } from './memory-rate-limiter.ts';

export interface MemoryEngineOptions {
  clock: Clock;
  historySize: number;
  historyTtlMs: number;
  historyMetaTtlMs: number;
}

export function createMemoryEngines(opts: MemoryEngineOptions): Engines {
  const history = new MemoryHistory({
    clock: opts.clock,
    size: opts.historySize,
    ttlMs: opts.historyTtlMs,
    metaTtlMs: opts.historyMetaTtlMs,
  });
  const broker = new MemoryBroker();
  const presence = new MemoryPresence();
  const rateLimiter = new MemoryRateLimiter(opts.clock);
  const sessions = new MemorySessionStore(opts.clock);
  const ports = { history, broker, presence, rateLimiter, sessions };
  // Append, then hand to this node's fan-out, in one synchronous step (offset order).
  const publishSync = (channel: string, pub: Omit<Publication, 'offset'>) => {
    const res = history.appendSync(channel, pub);
    broker.deliver(channel, res.publication, res.epoch);
    return res;
  };
  return {
    kind: 'memory',
    publishSync,
    async publish(channel, pub) {
      return publishSync(channel, pub);
    },
    start: async () => undefined,
    health: () => ({ memory: { ok: true } }),
    ...ports,
    close: () => closePorts(ports),
  };
}

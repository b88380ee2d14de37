/**
 * Engine factories for the contract suites: every suite in test/contract runs once per
 * entry. Add an engine by adding a factory here; the suites don't change.
 * The Redis factory uses the Redis on 127.0.0.1:6379 (scripts/test.sh starts one) with a
 * fresh key prefix per test, and the test's ManualClock for every time-based rule.
 */
import { randomUUID } from 'node:crypto';
import { createLogger } from '../../src/core/observability/index.ts';
import { ManualClock } from '../../src/core/time/index.ts';
import { createMemoryEngines, createRedisEngines, type Engines } from '../../src/gateway/index.ts';

export interface EngineOptions {
  historySize?: number;
  historyTtlMs?: number;
  historyMetaTtlMs?: number;
  presenceTtlMs?: number;
}

export interface EngineFactory {
  name: string;
  create(clock: ManualClock, opts?: EngineOptions): Promise<Engines>;
}

export const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
/** A Redis Cluster seed node; scripts/test.sh starts a local 3-master cluster and sets it. */
export const REDIS_CLUSTER_URL = process.env['TEST_REDIS_CLUSTER_URL'];

const defaults = (o: EngineOptions = {}) => ({
  historySize: o.historySize ?? 100,
  historyTtlMs: o.historyTtlMs ?? 0,
  historyMetaTtlMs: o.historyMetaTtlMs ?? 3_600_000,
});

function redisFactory(name: string, url: string, cluster: boolean): EngineFactory {
  return {
    name,
    async create(clock, opts) {
      const e = createRedisEngines({
        url,
        cluster,
        prefix: `t-${randomUUID()}:`,
        clock,
        logger: createLogger('silent'),
        presenceTtlMs: opts?.presenceTtlMs ?? 9000,
        slotLeaseMs: 30_000,
        ...defaults(opts),
      });
      await e.start();
      return e;
    },
  };
}

export const factories: EngineFactory[] = [
  {
    name: 'memory',
    async create(clock, opts) {
      return createMemoryEngines({ clock, ...defaults(opts) });
    },
  },
  redisFactory('redis', REDIS_URL, false),
  ...(REDIS_CLUSTER_URL ? [redisFactory('redis-cluster', REDIS_CLUSTER_URL, true)] : []),
];

/**
 * The event stream's shared-store engines for the contract suites
 * (dead-letter.contract.test.ts, dedupe.contract.test.ts): a factory makes an isolated
 * "space" (a temp directory for SQLite; a fresh schema of TEST_DATABASE_URL for
 * PostgreSQL; a fresh key prefix on TEST_REDIS_URL for Redis) in which `open` may be
 * called several times: another node sharing the store (`sharedByNodes`), or a restart.
 * Add an engine as one more entry; the suites do not change.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createLogger } from '../../src/core/observability/index.ts';
import { PostgresDriver } from '../../src/core/store/index.ts';
import { connectRedis, waitReady } from '../../src/gateway/engines/redis/index.ts';
import type { ScriptedRedis } from '../../src/gateway/engines/redis/connection.ts';
import { PostgresDeadLetterStore } from '../../src/streaming/dlq/postgres.ts';
import { RedisDeadLetterStore } from '../../src/streaming/dlq/redis.ts';
import {
  SqliteDeadLetterStore,
  type DeadLetterStore,
  type DeadLetterStoreOptions,
} from '../../src/streaming/dlq/store.ts';
import { SqliteDedupeWindow, type DedupeWindow } from '../../src/streaming/log/dedupe.ts';
import { RedisDedupeWindow } from '../../src/streaming/log/redis-dedupe.ts';
import { databaseUrl } from './stores.ts';

const logger = createLogger('silent');

/** As in ./engines.ts (not imported from there: these suites need no gateway). */
export const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const REDIS_CLUSTER_URL = process.env['TEST_REDIS_CLUSTER_URL'];

export interface Space<T, O> {
  /** Opens the engine on this space (again: another node, or a restart). */
  open(opts: O): Promise<T>;
  /** Closes everything `open` returned and removes the space. */
  dispose(): Promise<void>;
}

export interface StreamStoreFactory<T, O> {
  name: string;
  /** Whether several nodes may open the space at the same moment (SQLite: one process per file). */
  sharedByNodes: boolean;
  space(): Promise<Space<T, O>>;
}

/** A Redis connection for a test space, as the app opens it (fail fast), ready. */
async function redisFor(url: string, cluster: boolean): Promise<ScriptedRedis> {
  const r = connectRedis({ url, failFast: true, connectionName: 'backbeat-test', cluster });
  await waitReady(r);
  return r;
}

/** Deletes every key under `prefix` (on each master of a cluster). */
export async function dropPrefix(r: ScriptedRedis, prefix: string): Promise<void> {
  const nodes = 'nodes' in r && typeof r.nodes === 'function' ? r.nodes('master') : [r];
  for (const n of nodes) {
    const keys = await n.keys(`${prefix}*`);
    for (const k of keys) await n.del(k);
  }
}

function redisSpace<T, O>(
  url: string,
  cluster: boolean,
  make: (redis: ScriptedRedis, prefix: string, opts: O) => T & { close(): Promise<void> },
): () => Promise<Space<T, O>> {
  return async () => {
    const prefix = `t-${randomUUID()}:`;
    const conns: ScriptedRedis[] = [];
    const opened: Array<{ close(): Promise<void> }> = [];
    return {
      async open(opts) {
        // One connection per "node", as each app opens its own.
        const r = await redisFor(url, cluster);
        conns.push(r);
        const s = make(r, prefix, opts);
        opened.push(s);
        return s;
      },
      async dispose() {
        await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
        if (conns[0]) await dropPrefix(conns[0], prefix).catch(() => undefined);
        await Promise.all(conns.map((c) => c.quit().catch(() => c.disconnect())));
      },
    };
  };
}

// ── dead-letter stores ──────────────────────────────────────────────────────────────

export type DlqFactory = StreamStoreFactory<DeadLetterStore, DeadLetterStoreOptions>;

const sqliteDlq: DlqFactory = {
  name: 'sqlite',
  sharedByNodes: false,
  async space() {
    const dir = mkdtempSync(join(tmpdir(), 'bb-dlq-'));
    const opened: DeadLetterStore[] = [];
    return {
      async open(opts) {
        const s = new SqliteDeadLetterStore(join(dir, 'dead-letters.db'), opts);
        opened.push(s);
        return s;
      },
      async dispose() {
        await Promise.all(opened.map((s) => s.close()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** A fresh schema of TEST_DATABASE_URL, dropped at dispose. */
function postgresSpace<T extends { close(): Promise<void> }, O>(
  make: (url: string, schema: string, opts: O) => T,
): () => Promise<Space<T, O>> {
  return async () => {
    const url = databaseUrl();
    const schema = `bbd_${randomBytes(6).toString('hex')}`;
    const opened: T[] = [];
    return {
      async open(opts) {
        const s = make(url, schema, opts);
        opened.push(s);
        return s;
      },
      async dispose() {
        await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        } finally {
          await c.end();
        }
      },
    };
  };
}

const postgresDlq: DlqFactory = {
  name: 'postgres',
  sharedByNodes: true,
  space: postgresSpace(
    (url, schema, opts: DeadLetterStoreOptions) =>
      new PostgresDeadLetterStore(new PostgresDriver({ url, schema, logger, poolSize: 4 }), opts),
  ),
};

const redisDlq = (name: string, url: string, cluster: boolean): DlqFactory => ({
  name,
  sharedByNodes: true,
  space: redisSpace(url, cluster, (redis, prefix, opts: DeadLetterStoreOptions) => {
    return new RedisDeadLetterStore({ redis, prefix, ...opts });
  }),
});

export const dlqFactories: DlqFactory[] = [
  sqliteDlq,
  postgresDlq,
  redisDlq('redis', REDIS_URL, false),
  ...(REDIS_CLUSTER_URL ? [redisDlq('redis-cluster', REDIS_CLUSTER_URL, true)] : []),
];

// ── dedupe windows ──────────────────────────────────────────────────────────────────

export interface DedupeOptions {
  maxIds?: number;
  ttlMs?: number;
  now?: () => number;
  /** Redis: how long a claim waits for an id pending elsewhere. */
  inFlightWaitMs?: number;
}

export type DedupeFactory = StreamStoreFactory<DedupeWindow, DedupeOptions>;

const sqliteDedupe: DedupeFactory = {
  name: 'sqlite',
  sharedByNodes: false,
  async space() {
    const dir = mkdtempSync(join(tmpdir(), 'bb-dedupe-'));
    const opened: DedupeWindow[] = [];
    return {
      async open(opts) {
        const w = new SqliteDedupeWindow(join(dir, 'dedupe.db'), {
          ...(opts.maxIds ? { maxIds: opts.maxIds } : {}),
          ...(opts.ttlMs ? { ttlMs: opts.ttlMs } : {}),
          ...(opts.now ? { now: opts.now } : {}),
        });
        opened.push(w);
        return w;
      },
      async dispose() {
        await Promise.all(opened.map((w) => w.close()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const redisDedupe = (name: string, url: string, cluster: boolean): DedupeFactory => ({
  name,
  sharedByNodes: true,
  space: redisSpace(url, cluster, (redis, prefix, opts: DedupeOptions) => {
    return new RedisDedupeWindow({ redis, prefix, ...opts });
  }),
});

export const dedupeFactories: DedupeFactory[] = [
  sqliteDedupe,
  redisDedupe('redis', REDIS_URL, false),
  ...(REDIS_CLUSTER_URL ? [redisDedupe('redis-cluster', REDIS_CLUSTER_URL, true)] : []),
];

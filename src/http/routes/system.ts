import { Type } from '@sinclair/typebox';
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client';
import { USER_ID_PATTERN, type TokenVerifier } from '../../core/auth/index.ts';
import type { Metrics } from '../../core/observability/index.ts';
import type { NodeInfo } from '../../connections/index.ts';
import { requireScope } from '../auth.ts';
import type { HttpApp } from './types.ts';

export interface Readiness {
  ready: boolean;
  state: string;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface SystemDeps {
  metrics: Metrics;
  verifier: TokenVerifier;
  readiness: () => Readiness;
  /** Live cluster nodes (registry). */
  nodes: () => Promise<NodeInfo[]>;
  /** The node a client should use (balancer strategy); `key` is the user for sticky strategies. */
  pickNode: (key?: string) => Promise<NodeInfo | undefined>;
  /** The stream worker's metric families (another thread's registry), merged into /metrics. */
  streaming?: { workerMetrics(): Promise<MetricFamilies> };
}

type MetricFamilies = Array<MetricObjectWithValues<MetricValue<string>>>;

/**
 * The registry's text plus families from another registry (the stream worker's, whose
 * series carry `processor="handlers"`): a family both have becomes one family holding
 * both sets of series (one HELP/TYPE; the worker labels the series the main thread also
 * reports, so none is summed into another's), a family only the other has is added.
 */
export async function metricsWith(registry: Registry, extra: MetricFamilies): Promise<string> {
  if (extra.length === 0) return registry.metrics();
  const families = new Map<string, MetricFamilies[number]>();
  for (const m of await registry.getMetricsAsJSON()) families.set(m.name, m);
  for (const m of extra) {
    const mine = families.get(m.name);
    if (mine && mine.type === m.type)
      families.set(m.name, { ...mine, values: [...mine.values, ...m.values] });
    else if (!mine) families.set(m.name, m);
  }
  // `sum` (the families' own aggregators would drop some, e.g. `omit`): a series only one
  // side has keeps its value; one both have (a family only the worker writes, which this
  // registry holds at zero) adds up to the worker's value.
  return AggregatorRegistry.aggregate([
    [...families.values()].map((m) => ({ ...m, aggregator: 'sum' as const })),
  ]).metrics();
}

/** Liveness, readiness, metrics, `/v1/connect` and `/v1/admin/nodes`. */
export function systemRoutes(app: HttpApp, deps: SystemDeps): void {
  app.get('/healthz', { schema: { tags: ['system'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));

  app.get(
    '/readyz',
    { schema: { tags: ['system'], summary: "Readiness, with each dependency's state" } },
    async (_req, reply) => {
      const r = deps.readiness();
      void reply.status(r.ready ? 200 : 503);
      return { status: r.ready ? 'ready' : 'not ready', state: r.state, checks: r.checks };
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['system'], summary: 'Prometheus text format', hide: false } },
    async (_req, reply) => {
      void reply.header('content-type', deps.metrics.registry.contentType);
      return metricsWith(deps.metrics.registry, (await deps.streaming?.workerMetrics()) ?? []);
    },
  );

  app.get(
    '/v1/connect',
    {
      schema: {
        tags: ['connections'],
        summary:
          'The gateway node a client should connect to (healthy, with spare capacity, by the configured strategy)',
        querystring: Type.Object({
          user: Type.Optional(
            Type.String({
              pattern: USER_ID_PATTERN,
              maxLength: 128,
              description: 'sticky key for consistent-hash',
            }),
          ),
        }),
        response: {
          200: Type.Object({ url: Type.String(), node: Type.String() }),
          503: Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) }),
        },
      },
    },
    async (req, reply) => {
      const { user } = req.query;
      const node = await deps.pickNode(user);
      if (!node)
        return reply
          .status(503)
          .send({ error: { code: 'unavailable', message: 'no healthy gateway node with spare capacity' } });
      return { url: node.url, node: node.node };
    },
  );

  app.get(
    '/v1/admin/nodes',
    {
      preHandler: requireScope(deps.verifier, 'admin'),
      schema: {
        tags: ['connections'],
        summary: 'Cluster nodes with load, capacity and health',
        security: [{ bearer: [] }],
      },
    },
    async () => ({ nodes: await deps.nodes() }),
  );
}

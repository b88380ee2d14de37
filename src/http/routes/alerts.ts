import { Type, type Static } from '@sinclair/typebox';
import type { TokenVerifier } from '../../core/auth/index.ts';
import { requireScope } from '../auth.ts';
import type { HttpApp } from './types.ts';

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });

export const AlertItem = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: Type.Union([Type.Literal('threshold'), Type.Literal('anomaly')]),
  metric: Type.Union(
    ['connections', 'events_per_second', 'http_p99_ms', 'http_error_rate', 'event_lag', 'dlq_size'].map((m) =>
      Type.Literal(m),
    ),
    { description: 'the performance series the alert watches' },
  ),
  state: Type.Union([Type.Literal('open'), Type.Literal('resolved')]),
  value: Type.Number({ description: "the metric's value when the alert opened" }),
  openedAt: Type.String({ format: 'date-time' }),
  resolvedAt: Type.Optional(Type.String({ format: 'date-time' })),
});
const AlertList = Type.Object({ items: Type.Array(AlertItem) });

/**
 * What the route needs of the alert service (src/analytics/alerts `AlertService` has it);
 * structural, so this file does not reach into the analytics capability.
 */
export interface AlertSource {
  list(): { items: Array<Static<typeof AlertItem>> };
}

/** SPEC §7: `GET /v1/analytics/alerts` — this node's open and recent alerts, newest first. */
export function alertRoutes(app: HttpApp, alerts: AlertSource, verifier: TokenVerifier): void {
  app.get(
    '/v1/analytics/alerts',
    {
      preHandler: requireScope(verifier, 'analytics:read'),
      schema: {
        tags: ['analytics'],
        summary:
          'Open and recently resolved alerts (threshold rules from ALERT_RULES, anomalies on the metrics without a rule), newest first',
        security: [{ bearer: [] }],
        response: { 200: AlertList, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async () => alerts.list(),
  );
}

/**
 * Erasers and exporters over the other capabilities, typed by what they need of them
 * (structurally: analytics imports no other capability, so none of them can form a cycle
 * with it).
 */
import type { Eraser, Exporter } from './service.ts';

/** What GDPR needs of the event stream (`StreamingService`). */
export interface StreamingGdpr {
  exportUser(userId: string): Promise<unknown>;
  eraseUser(userId: string): Promise<unknown>;
}

/**
 * The event stream: its export (the user's events still in the log, listening history,
 * the model's state, sessions, dead letters) and its erasure (log records deleted or
 * crypto-shredded, handler state forgotten, dead letters removed; idempotent).
 */
export function streamingGdpr(
  streaming: StreamingGdpr,
  name = 'streaming',
): { eraser: Eraser; exporter: Exporter } {
  return {
    eraser: { name, erase: async (userId) => void (await streaming.eraseUser(userId)) },
    exporter: { name, export: (userId) => streaming.exportUser(userId) },
  };
}

/** What GDPR needs of push (`PushService`); devices, preferences and recipients are the store's part. */
export interface PushGdpr {
  sendTime: { forget(userId: string): boolean };
  sendTimeOf(userId: string): Promise<unknown>;
}

/**
 * Push: the learned send-time model (in memory, rebuilt from the event log) and what it
 * says of the user. `invalidate` drops what the push stream handler caches about the user
 * (its time zone and consent: `PushEventsHandler.invalidate`).
 */
export function pushGdpr(
  push: PushGdpr,
  opts: { name?: string; invalidate?: (userId: string) => void } = {},
): { eraser: Eraser; exporter: Exporter } {
  const name = opts.name ?? 'push';
  return {
    eraser: {
      name,
      erase: async (userId) => {
        push.sendTime.forget(userId);
        opts.invalidate?.(userId);
      },
    },
    exporter: { name, export: async (userId) => ({ sendTime: await push.sendTimeOf(userId) }) },
  };
}

/** What GDPR needs of the analytics service (`AnalyticsService`: `forget`, `export`). */
export interface AnalyticsGdpr {
  forget(userId: string): void | Promise<void>;
  export(userId: string): unknown;
}

/** Analytics: the user's (pseudonymized) profile and its erasure. */
export function analyticsGdpr(
  analytics: AnalyticsGdpr,
  name = 'analytics',
): { eraser: Eraser; exporter: Exporter } {
  return {
    eraser: { name, erase: async (userId) => void (await analytics.forget(userId)) },
    exporter: { name, export: async (userId) => await analytics.export(userId) },
  };
}

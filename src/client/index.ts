/**
 * The Backbeat client SDK (browser and Node ≥ 22): `import { BackbeatClient } from 'backbeat/client'`.
 * See docs/client.md.
 */
export { BackbeatClient, type ClientEvents, type ClientOptions, type ClientState } from './client.ts';
export { Subscription, type SubscriptionEvents, type SubscriptionState } from './subscription.ts';
export { BackbeatClientError, DISCONNECTED, TIMEOUT } from './errors.ts';
export { backoffDelay, type BackoffOptions } from './backoff.ts';
export { OffsetTracker } from './tracker.ts';
export type { ClientInfo, ConnectedInfo, HistoryResult, Publication } from './types.ts';

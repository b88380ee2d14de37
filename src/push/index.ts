/** Push notifications (SPEC §6): the capability's façade, its runner, providers and wire schemas. */
export { PushService, type JobStatusView, type PushServiceOptions } from './service.ts';
export { PushEventsHandler } from './events.ts';
export { PushMetrics } from './metrics.ts';
export { createProviders, type ProviderConfig, type Providers } from './providers/setup.ts';
export type { Platform, PushMessage, PushOutcome, PushProvider, PushTarget } from './providers/types.ts';
export {
  DeviceBody,
  Name,
  NotificationBody,
  PreferencesBody,
  TemplateBody,
  notificationIdOf,
  parseNotificationId,
  type JobRequest,
} from './request.ts';

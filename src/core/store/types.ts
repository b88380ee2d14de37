/**
 * The records of the relational store (SPEC §6 push, §7 consent and GDPR), as the
 * repositories of `port.ts` read and write them. Times are milliseconds since the Unix
 * epoch, taken from the store's `Clock`; the HTTP layer renders them as it likes.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type Platform = 'ios' | 'android' | 'web';
/** Where one recipient row is delivered: a device's platform, or `ws` (the user's inbox channel). */
export type RecipientPlatform = Platform | 'ws';

export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** `POST /v1/devices`: an APNs/FCM token, or a Web Push subscription for `web`. */
export interface DeviceRegistration {
  userId: string;
  platform: Platform;
  /** Required for `ios` and `android`. */
  token?: string;
  /** Required for `web`; its `endpoint` identifies the device. */
  subscription?: WebPushSubscription;
  /** Omitted (or null) on a re-registration: the stored value is kept. */
  locale?: string | null;
  timezone?: string | null;
  /** Omitted on a re-registration: the stored topics are kept; given: they replace them. */
  topics?: string[];
}

/** A device as listed to its user: no token, no subscription. */
export interface DeviceInfo {
  id: string;
  userId: string;
  platform: Platform;
  locale: string | null;
  timezone: string | null;
  topics: string[];
  createdAt: number;
  updatedAt: number;
}

/** A device with what a provider needs to reach it (for sending, and for export). */
export type Device = DeviceInfo &
  ({ platform: 'ios' | 'android'; token: string } | { platform: 'web'; subscription: WebPushSubscription });

export interface Page<T> {
  items: T[];
  /** Pass as `after` for the next page; null when this was the last one. */
  next: string | null;
}

export interface PageRequest {
  /** Cursor from the previous page's `next`; omitted for the first page. */
  after?: string | null;
  /** Items per page, 1…10,000. @default 1000 */
  limit?: number;
}

export interface QuietHours {
  /** "HH:MM", 24 h, in the user's time zone. */
  start: string;
  end: string;
}

export interface Preferences {
  timezone: string | null;
  locale: string | null;
  quietHours: QuietHours | null;
  /** Notification categories the user does not want. */
  optOut: string[];
}

export interface StoredPreferences extends Preferences {
  userId: string;
  updatedAt: number;
}

export interface ConsentChoices {
  analytics: boolean;
  personalization: boolean;
  marketing: boolean;
}

export interface Consent extends ConsentChoices {
  userId: string;
  updatedAt: number;
}

export interface TemplateContent {
  title: string;
  body: string;
}

export interface TemplateInput {
  name: string;
  defaultLocale: string;
  locales: Record<string, TemplateContent>;
}

export interface Template extends TemplateInput {
  /** 1 on creation, +1 on every update. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

export type JobStatus = 'queued' | 'scheduled' | 'running' | 'done' | 'failed';

/**
 * Where a recipient is: `pending` (to be sent, also after a retriable failure, from
 * `notBefore` on), `held` (quiet hours: due at `notBefore`), `sent` (handed over without an
 * acknowledgement, e.g. a `ws` publication), `delivered` (the provider accepted it),
 * `failed`, `skipped` (opted out, no device), `expired` (its TTL ran out while held),
 * `invalid` (the provider reported the token dead).
 */
export type RecipientState =
  'pending' | 'held' | 'sent' | 'delivered' | 'failed' | 'skipped' | 'expired' | 'invalid';

export const RECIPIENT_STATES: readonly RecipientState[] = [
  'pending',
  'held',
  'sent',
  'delivered',
  'failed',
  'skipped',
  'expired',
  'invalid',
];

/** States a recipient leaves no more: an outcome recorded for it later is ignored. */
export const SETTLED_STATES: readonly RecipientState[] = [
  'delivered',
  'failed',
  'skipped',
  'expired',
  'invalid',
];

/**
 * A job's counters: `total` recipient rows, and how many are in each state right now
 * (`invalidTokens` counts state `invalid`). Kept on the job row, in the same transaction
 * as every recipient change, so reading them costs one row whatever the audience size.
 */
export interface JobCounters {
  total: number;
  pending: number;
  held: number;
  sent: number;
  delivered: number;
  failed: number;
  skipped: number;
  expired: number;
  invalidTokens: number;
}

export interface Job {
  id: string;
  idempotencyKey: string | null;
  /** The notification request as accepted (JSON). */
  request: JsonValue;
  status: JobStatus;
  counters: JobCounters;
  createdAt: number;
  updatedAt: number;
}

export interface NewJob {
  /** @default a random UUID */
  id?: string;
  /** A second `create` with the same key returns the first job (and adds nothing). */
  idempotencyKey?: string | null;
  request: JsonValue;
  /** @default 'queued' */
  status?: JobStatus;
  /** Recipients created with the job, in the same transaction. */
  recipients?: NewRecipient[];
}

export interface NewRecipient {
  userId: string;
  /** The device id, `'ws'` for the user's inbox, null when the user has no device (skipped). */
  deviceId: string | null;
  platform: RecipientPlatform | null;
  /** The experiment variant, when the job runs one. */
  variant?: string | null;
  /** @default 'pending' */
  state?: 'pending' | 'held' | 'skipped';
  /** Not claimable before this time (ms): quiet hours, `sendAt`. @default 0 */
  notBefore?: number;
  lastError?: string | null;
}

export interface RecipientRef {
  jobId: string;
  seq: number;
}

export interface Recipient extends RecipientRef {
  userId: string;
  deviceId: string | null;
  platform: RecipientPlatform | null;
  variant: string | null;
  state: RecipientState;
  /** Send attempts recorded so far. */
  attempts: number;
  notBefore: number;
  lastError: string | null;
  /** The node holding it, while claimed. */
  leaseOwner: string | null;
  leaseUntil: number | null;
}

/**
 * One recipient's outcome. `pending` with a later `notBefore` is a retry; `held` with
 * `notBefore` waits for the end of quiet hours. A send attempt (`sent`, `delivered`,
 * `failed`, `invalid`, or a retry) adds one to `attempts`.
 */
export interface Outcome extends RecipientRef {
  state: RecipientState;
  /** When given, the outcome applies only while this node holds the lease (or nobody does). */
  nodeId?: string;
  notBefore?: number;
  error?: string | null;
}

/** One cell of a job's breakdown: recipients of a platform and variant in a state. */
export interface JobBreakdownRow {
  platform: RecipientPlatform | null;
  variant: string | null;
  state: RecipientState;
  count: number;
}

export interface ExperimentAssignment {
  experiment: string;
  variant: string;
  userId: string;
  /** The notification (job + recipient) that carried the variant; opens are counted by it. */
  notificationId: string;
  /** @default false */
  sent?: boolean;
}

export interface ExperimentRecord extends Required<ExperimentAssignment> {
  opened: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface VariantResult {
  variant: string;
  recipients: number;
  sent: number;
  opened: number;
}

/** `GET /v1/users/{id}/export`, as far as this store holds the user. */
export interface UserExport {
  userId: string;
  devices: Device[];
  preferences: StoredPreferences | null;
  consent: Consent | null;
  recipients: Recipient[];
  experiments: ExperimentRecord[];
  /** Jobs whose request names the user (e.g. in `userIds`). */
  jobs: Job[];
}

/** Rows removed (or, for jobs, requests rewritten without the user) by `eraseUser`. */
export interface ErasureReport {
  devices: number;
  preferences: number;
  consent: number;
  recipients: number;
  experiments: number;
  jobs: number;
}

/** State of a GDPR erasure, and of each store it covers. */
export type ErasureState = 'pending' | 'done';

/**
 * A GDPR erasure receipt (SPEC §7): persisted before anything is erased, so an erasure
 * interrupted by a crash resumes at start. While pending it holds the user id; once done
 * only a salted hash of it (`userHash`), so the id itself does not survive.
 */
export interface ErasureReceipt {
  id: string;
  userId: string | null;
  /** `sha256$<salt, base64url>$<hex of sha256(salt ‖ userId)>` once done; null while pending. */
  userHash: string | null;
  status: ErasureState;
  /** Per store (eraser name). */
  stores: Record<string, ErasureState>;
  createdAt: number;
  updatedAt: number;
  completedAt: number | null;
}

export interface StoreHealth {
  ok: boolean;
  engine: 'sqlite' | 'postgres';
  /** Names the database (never a password); on failure, what went wrong. */
  detail: string;
}

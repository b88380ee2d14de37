/**
 * The `Store` port: the relational store of the push capability (devices, preferences,
 * consent, templates, notification jobs with their recipients, experiments) and the
 * GDPR helpers over it. Two engines implement it with one set of SQL: `SqliteStore`
 * (embedded, a file under DATA_DIR) and `PostgresStore` (cluster, DATABASE_URL);
 * `test/contract/store.contract.test.ts` holds both to the same behaviour.
 *
 * Every write that resolved is durable (SQLite `synchronous=FULL`, PostgreSQL commit).
 */
import type {
  Consent,
  ConsentChoices,
  Device,
  DeviceInfo,
  DeviceRegistration,
  ErasureReceipt,
  ErasureReport,
  ErasureState,
  ExperimentAssignment,
  Job,
  JobBreakdownRow,
  JobStatus,
  NewJob,
  NewRecipient,
  Outcome,
  Page,
  PageRequest,
  Platform,
  Preferences,
  Recipient,
  RecipientRef,
  StoredPreferences,
  StoreHealth,
  Template,
  TemplateInput,
  UserExport,
  VariantResult,
} from './types.ts';

export interface DeviceRepository {
  /**
   * Registers a device, or updates the one with the same `(platform, token)` (the same
   * `endpoint` for web): a re-registration returns the same `id` with `created: false`,
   * and moves the device to `userId` if another user had it.
   */
  register(reg: DeviceRegistration): Promise<{ id: string; created: boolean }>;
  /**
   * `register` for many devices in one transaction (imports, bulk re-registration): one
   * result per registration, in order. The same device twice: the last one's fields win.
   */
  registerMany(regs: readonly DeviceRegistration[]): Promise<Array<{ id: string; created: boolean }>>;
  get(id: string): Promise<Device | null>;
  /** Several devices by id, with tokens (ids not found are left out). */
  getMany(ids: readonly string[]): Promise<Device[]>;
  /** A user's devices without tokens, oldest first (`GET /v1/users/{id}/devices`). */
  listByUser(userId: string): Promise<DeviceInfo[]>;
  /** A user's devices with tokens, for sending. */
  listByUserForSending(userId: string): Promise<Device[]>;
  /** The devices of many users, with tokens (any number of ids; queried in chunks). */
  listForUsers(userIds: readonly string[]): Promise<Device[]>;
  /** Devices subscribed to a topic, with tokens, in pages by device id. */
  listByTopic(topic: string, page?: PageRequest): Promise<Page<Device>>;
  /** Every device, with tokens, in pages by id: for audiences too large for one read. */
  page(page?: PageRequest): Promise<Page<Device>>;
  count(): Promise<number>;
  delete(id: string): Promise<boolean>;
  /** Deletes the device a provider reported dead: by token, or by endpoint for web. */
  deleteDead(platform: Platform, tokenOrEndpoint: string): Promise<boolean>;
}

export interface PreferenceRepository {
  get(userId: string): Promise<StoredPreferences | null>;
  /** The stored preferences of many users (those without a row are left out). */
  getMany(userIds: readonly string[]): Promise<StoredPreferences[]>;
  /** Replaces the user's preferences and returns what is stored. */
  put(userId: string, prefs: Preferences): Promise<StoredPreferences>;
}

export interface ConsentRepository {
  /** null for a user never asked: the caller applies CONSENT_DEFAULT. */
  get(userId: string): Promise<Consent | null>;
  /** The consent rows of many users (users never asked are left out). */
  getMany(userIds: readonly string[]): Promise<Consent[]>;
  put(userId: string, choices: ConsentChoices): Promise<Consent>;
}

export interface TemplateRepository {
  /** Creates or replaces a template; the version grows by one on every replace. */
  put(input: TemplateInput): Promise<Template>;
  get(name: string): Promise<Template | null>;
  list(): Promise<Template[]>;
  delete(name: string): Promise<boolean>;
}

export interface JobRepository {
  /**
   * Creates a job (and its recipients, in the same transaction). With an
   * `idempotencyKey` already used, returns that job with `created: false` and adds nothing.
   */
  create(input: NewJob): Promise<{ job: Job; created: boolean }>;
  get(id: string): Promise<Job | null>;
  getByIdempotencyKey(key: string): Promise<Job | null>;
  /** Jobs in the given states, oldest first: what a node resumes at start. */
  listByStatus(statuses: readonly JobStatus[], limit?: number): Promise<Job[]>;
  setStatus(id: string, status: JobStatus): Promise<boolean>;
  /**
   * Appends recipients (any number: inserted in chunks, one transaction) and keeps the
   * counters exact. Returns the seq range given to them, `[first, last]` (empty: `[n+1, n]`).
   */
  addRecipients(jobId: string, recipients: readonly NewRecipient[]): Promise<{ first: number; last: number }>;
  getRecipient(ref: RecipientRef): Promise<Recipient | null>;
  /** A job's recipients in seq order, after `afterSeq`. */
  listRecipients(jobId: string, afterSeq?: number, limit?: number): Promise<Recipient[]>;
  /**
   * Records one recipient's outcome as it arrives, with the job's counters (and its
   * breakdown) updated in the same transaction, and releases the recipient's lease.
   * Returns false, changing nothing, when the recipient is unknown, already settled, or
   * (with `nodeId`) leased by another node.
   */
  recordOutcome(outcome: Outcome): Promise<boolean>;
  /** Several outcomes already at hand, in one transaction; one result per outcome. */
  recordOutcomes(outcomes: readonly Outcome[]): Promise<boolean[]>;
  /** Recipients per platform, variant and state (a handful of rows, kept like the counters). */
  breakdown(jobId: string): Promise<JobBreakdownRow[]>;
}

export interface ClaimRequest {
  /** Only this job's recipients; omitted: any job's. */
  jobId?: string;
  nodeId: string;
  leaseMs: number;
  limit: number;
}

/**
 * Leases on recipients, so that nodes sharing a store never send the same recipient
 * twice: a claimed recipient belongs to one node until its outcome is recorded, the
 * lease is released, or the lease expires (its node died) and another node claims it.
 */
export interface LeaseRepository {
  /**
   * Leases up to `limit` due recipients (`pending` or `held`, `notBefore` reached, not
   * leased or lease expired), oldest `notBefore` first. Atomic across nodes.
   */
  claim(req: ClaimRequest): Promise<Recipient[]>;
  /** Extends this node's leases (all of them, or those named) to now + `leaseMs`. Returns how many. */
  renew(nodeId: string, leaseMs: number, refs?: readonly RecipientRef[]): Promise<number>;
  /** Gives up this node's leases (all, or those named) without an outcome. Returns how many. */
  release(nodeId: string, refs?: readonly RecipientRef[]): Promise<number>;
}

export interface ExperimentRepository {
  /** Records a recipient's variant; idempotent per (experiment, notificationId). */
  assign(a: ExperimentAssignment): Promise<void>;
  markSent(notificationId: string): Promise<boolean>;
  /** Counts an open (`notification.opened`); true only for the first open. */
  markOpened(notificationId: string): Promise<boolean>;
  /** Recipients, sends and opens per variant, by variant name. */
  results(experiment: string): Promise<VariantResult[]>;
}

/** GDPR erasure receipts (SPEC §7: `DELETE /v1/users/{id}` → `GET /v1/erasures/{receiptId}`). */
export interface ErasureRepository {
  /**
   * Persists a pending receipt covering `stores` (each pending), or returns the user's
   * pending receipt if there is one (`created: false`): one pending erasure per user.
   */
  begin(userId: string, stores: readonly string[]): Promise<{ receipt: ErasureReceipt; created: boolean }>;
  get(id: string): Promise<ErasureReceipt | null>;
  /** Pending receipts, oldest first: what a node resumes at start. */
  listPending(limit?: number): Promise<ErasureReceipt[]>;
  /** Sets one store's state (adding the store if the receipt did not name it). Null for an unknown receipt. */
  markStore(id: string, store: string, state: ErasureState): Promise<ErasureReceipt | null>;
  /**
   * Marks the receipt done and replaces the user id with its salted hash; idempotent. On
   * SQLite the WAL is then checkpointed and truncated, so no page image keeps the id.
   */
  complete(id: string): Promise<ErasureReceipt | null>;
}

export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  readonly devices: DeviceRepository;
  readonly preferences: PreferenceRepository;
  readonly consent: ConsentRepository;
  readonly templates: TemplateRepository;
  readonly jobs: JobRepository;
  readonly leases: LeaseRepository;
  readonly experiments: ExperimentRepository;
  readonly erasures: ErasureRepository;
  /** Every row this store holds about the user. */
  exportUser(userId: string): Promise<UserExport>;
  /**
   * Deletes every row about the user, in one transaction, and removes the user's id from
   * job requests. Recipients still due are counted as skipped, so their jobs finish; job
   * counters are aggregates and stay. On SQLite, the deleted bytes are overwritten and the
   * WAL checkpointed, so the id survives in no free page.
   */
  eraseUser(userId: string): Promise<ErasureReport>;
  /** For /readyz; never throws. */
  health(): Promise<StoreHealth>;
  /** Idempotent. */
  close(): Promise<void>;
}

import { BadRequestError, BackbeatError } from '../core/errors/index.ts';
import {
  extractContext,
  injectContext,
  withSpan,
  type Logger,
  type Metrics,
} from '../core/observability/index.ts';
import type { Clock } from '../core/time/index.ts';
import type {
  Device,
  DeviceInfo,
  Job,
  NewRecipient,
  Page,
  Store,
  StoredPreferences,
} from '../core/store/index.ts';
import { analyze, assignVariant, validateExperiment, type ExperimentAnalysis } from './experiments/index.ts';
import { JobRunner, type JobRunnerOptions } from './jobs/runner.ts';
import type { PushMetrics } from './metrics.ts';
import type { Platform, PushProvider } from './providers/types.ts';
import type { DeviceBody, JobRequest, NotificationBody, PreferencesBody, TemplateBody } from './request.ts';
import { inQuietHours, isValidTimeZone, nextSendTime, quietHoursEnd } from './schedule/index.ts';
import { SendTimeModel } from './sendtime/index.ts';
import { TemplateEngine, TemplateError, type TemplateDefinition } from './templates/index.ts';

export interface PushServiceOptions {
  store: Store;
  providers: Partial<Record<Platform, PushProvider>>;
  vapidPublicKey: string | undefined;
  /** Users connected right now, on any node (channel "auto"). */
  connectedUsers: (userIds: readonly string[]) => Promise<Set<string>>;
  publishInbox: (userId: string, payload: Record<string, unknown>) => Promise<void>;
  /** The members of an analytics segment (SPEC §7: a segment is a valid audience); undefined for an unknown one. */
  segmentUsers?: (name: string) => string[] | undefined;
  /** A user's devices, preferences or consent changed (caches elsewhere drop the user). */
  onUserChanged?: (userId: string) => void;
  /** `CONSENT_DEFAULT`: consent of a user never asked. */
  consentDefault: 'granted' | 'denied';
  maxRecipients: number;
  runner: Omit<JobRunnerOptions, 'pollMs' | 'retryBaseMs'> &
    Partial<Pick<JobRunnerOptions, 'pollMs' | 'retryBaseMs'>>;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  pushMetrics: PushMetrics;
}

export interface JobStatusView {
  jobId: string;
  status: 'queued' | 'scheduled' | 'running' | 'done' | 'failed';
  total: number;
  sent: number;
  delivered: number;
  failed: number;
  skipped: number;
  held: number;
  expired: number;
  invalidTokens: number;
  pending: number;
  byPlatform: Record<string, { sent: number; delivered: number; failed: number }>;
  byVariant: Record<string, { recipients: number; sent: number; opened: number }>;
  createdAt: string;
}

/** Recipients per device row added in one store transaction when a job is created. */
const AUDIENCE_PAGE = 5000;

/**
 * The push capability's façade (SPEC §6): devices, preferences, templates, notifications
 * (validated whole before a job exists, then a durable job with one row per device),
 * job status, experiments and learned send times. Delivery is the `JobRunner`'s.
 */
export class PushService {
  readonly templates = new TemplateEngine();
  readonly sendTime = new SendTimeModel();
  readonly runner: JobRunner;
  readonly #o: PushServiceOptions;

  constructor(opts: PushServiceOptions) {
    this.#o = opts;
    this.runner = new JobRunner(
      { pollMs: 250, retryBaseMs: 1000, ...opts.runner },
      {
        store: opts.store,
        providers: opts.providers,
        templates: this.templates,
        publishInbox: opts.publishInbox,
        clock: opts.clock,
        logger: opts.logger.child({ component: 'push-runner' }),
        metrics: opts.metrics,
        pushMetrics: opts.pushMetrics,
      },
    );
  }

  /** Whether a provider is configured for the platform (its devices fail otherwise). */
  hasProvider(platform: Platform): boolean {
    return this.#o.providers[platform] !== undefined;
  }

  get vapidPublicKey(): string | undefined {
    return this.#o.vapidPublicKey;
  }

  start(): void {
    this.runner.start();
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }

  // ---- devices --------------------------------------------------------------------

  async registerDevice(body: DeviceBody): Promise<{ id: string; created: boolean }> {
    if (body.platform === 'web') {
      if (!body.subscription) throw new BadRequestError('subscription is required for platform web');
      if (body.token !== undefined)
        throw new BadRequestError('token is not used for platform web: send subscription');
    } else {
      if (!body.token) throw new BadRequestError(`token is required for platform ${body.platform}`);
      if (body.subscription) throw new BadRequestError(`subscription is only for platform web`);
      if (body.platform === 'ios' && !/^[0-9a-fA-F]{16,200}$/.test(body.token))
        throw new BadRequestError('token must be the APNs device token in hex');
    }
    if (body.timezone !== undefined && !isValidTimeZone(body.timezone))
      throw new BadRequestError(`timezone ${JSON.stringify(body.timezone)} is not an IANA time zone`);
    this.#o.onUserChanged?.(body.userId);
    return this.#o.store.devices.register({
      userId: body.userId,
      platform: body.platform,
      ...(body.token !== undefined ? { token: body.token } : {}),
      ...(body.subscription ? { subscription: body.subscription } : {}),
      ...(body.locale !== undefined ? { locale: body.locale } : {}),
      ...(body.timezone !== undefined ? { timezone: body.timezone } : {}),
      ...(body.topics !== undefined ? { topics: body.topics } : {}),
    });
  }

  async device(id: string): Promise<Device | null> {
    return this.#o.store.devices.get(id);
  }

  async deleteDevice(id: string): Promise<boolean> {
    return this.#o.store.devices.delete(id);
  }

  async devicesOf(userId: string): Promise<DeviceInfo[]> {
    return this.#o.store.devices.listByUser(userId);
  }

  // ---- preferences and templates -------------------------------------------------

  async putPreferences(userId: string, body: PreferencesBody): Promise<StoredPreferences> {
    if (body.timezone && !isValidTimeZone(body.timezone))
      throw new BadRequestError(`timezone ${JSON.stringify(body.timezone)} is not an IANA time zone`);
    if (body.quietHours && body.quietHours.start === body.quietHours.end)
      throw new BadRequestError('quietHours.start and quietHours.end must differ');
    this.#o.onUserChanged?.(userId);
    return this.#o.store.preferences.put(userId, {
      timezone: body.timezone ?? null,
      locale: body.locale ?? null,
      quietHours: body.quietHours ?? null,
      optOut: body.optOut ?? [],
    });
  }

  async preferences(userId: string): Promise<StoredPreferences> {
    return (
      (await this.#o.store.preferences.get(userId)) ?? {
        userId,
        timezone: null,
        locale: null,
        quietHours: null,
        optOut: [],
        updatedAt: 0,
      }
    );
  }

  async putTemplate(name: string, body: TemplateBody): Promise<TemplateDefinition & { version: number }> {
    let def: TemplateDefinition;
    try {
      def = this.templates.validate({ name, version: 0, ...body });
    } catch (err) {
      throw asBadRequest(err);
    }
    const stored = await this.#o.store.templates.put({
      name,
      defaultLocale: def.defaultLocale,
      locales: def.locales,
    });
    return { name, version: stored.version, defaultLocale: stored.defaultLocale, locales: stored.locales };
  }

  // ---- notifications --------------------------------------------------------------

  /**
   * Validates the whole notification (audience, templates and every variable, experiment,
   * schedule) and only then creates the job with a row per device, durably, before the
   * 202. The same `idempotencyKey` returns the job made the first time.
   */
  async createNotification(
    body: NotificationBody,
    traceHeaders?: Record<string, unknown>,
  ): Promise<{ jobId: string; recipients: number; created: boolean }> {
    return withSpan('push.create', extractContext(traceHeaders), async (span) => {
      const r = await this.#create(body);
      span.setAttribute('backbeat.job', r.jobId);
      span.setAttribute('backbeat.recipients', r.recipients);
      return r;
    });
  }

  async #create(body: NotificationBody): Promise<{ jobId: string; recipients: number; created: boolean }> {
    const { store, clock } = this.#o;
    if (body.idempotencyKey) {
      const existing = await store.jobs.getByIdempotencyKey(body.idempotencyKey);
      if (existing) return { jobId: existing.id, recipients: existing.counters.total, created: false };
    }
    const request = await this.#validate(body);
    const now = clock.now();
    const recipients = await this.#audience(request, now);
    const initial = recipients.some((r) => r.state === 'pending' && (r.notBefore ?? 0) <= now + 1000)
      ? 'queued'
      : 'scheduled';
    const { job, created } = await store.jobs.create({
      idempotencyKey: body.idempotencyKey ?? null,
      request: request as unknown as Job['request'],
      status: recipients.every((r) => r.state === 'skipped') ? 'done' : initial,
      recipients,
    });
    if (created) {
      this.#o.pushMetrics.jobsCreated.labels(request.channel).inc();
      for (const r of recipients) this.#o.pushMetrics.recipientsCreated.labels(r.state ?? 'pending').inc();
      this.#o.logger.info(
        { job: job.id, recipients: recipients.length, channel: request.channel },
        'push job created',
      );
      this.runner.wake();
    }
    return { jobId: job.id, recipients: job.counters.total, created };
  }

  async #validate(body: NotificationBody): Promise<JobRequest> {
    const audiences = [body.userIds, body.topic, body.segment].filter((a) => a !== undefined).length;
    if (audiences !== 1) throw new BadRequestError('name exactly one audience: userIds, topic or segment');
    let segmentMembers: string[] | undefined;
    if (body.segment !== undefined && body.segment !== 'all') {
      segmentMembers = this.#o.segmentUsers?.(body.segment);
      if (!segmentMembers)
        throw new BadRequestError(
          `unknown segment ${JSON.stringify(body.segment)}: "all" or a segment of GET /v1/analytics/segments`,
        );
    }
    const templates: Record<string, TemplateDefinition> = {};
    const variables = body.variables ?? {};
    const load = async (name: string): Promise<void> => {
      if (templates[name]) return;
      const t = await this.#o.store.templates.get(name);
      if (!t) throw new BadRequestError(`unknown template ${JSON.stringify(name)}`);
      const def: TemplateDefinition = {
        name,
        version: t.version,
        defaultLocale: t.defaultLocale,
        locales: t.locales,
      };
      try {
        this.templates.checkVariables(def, variables);
      } catch (err) {
        throw asBadRequest(err);
      }
      templates[name] = def;
    };
    let experiment: JobRequest['experiment'];
    if (body.experiment) {
      try {
        experiment = validateExperiment(body.experiment);
      } catch (err) {
        throw asBadRequest(err);
      }
      for (const v of experiment.variants) await load(v.template);
    } else if (body.template) {
      await load(body.template);
    } else if (body.title === undefined || body.body === undefined) {
      throw new BadRequestError(
        'give a template (with variables), an experiment, or a literal title and body',
      );
    }
    let sendAtMs: number | undefined;
    if (body.sendAt !== undefined && body.sendAt !== 'optimal') {
      sendAtMs = Date.parse(body.sendAt);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(body.sendAt) || Number.isNaN(sendAtMs))
        throw new BadRequestError('sendAt must be an ISO 8601 date-time or "optimal"');
    }
    const now = this.#o.clock.now();
    if (sendAtMs !== undefined && sendAtMs > now + 30 * 86_400_000)
      throw new BadRequestError('sendAt is more than 30 days ahead');
    return {
      // A segment is resolved to its members now: the job sends to who was in it at the 202.
      audience: {
        ...(body.userIds ? { userIds: body.userIds } : {}),
        ...(segmentMembers ? { userIds: segmentMembers } : {}),
        ...(body.topic ? { topic: body.topic } : {}),
        ...(body.segment ? { segment: body.segment } : {}),
      },
      ...(body.template && !experiment ? { template: body.template } : {}),
      ...(body.title !== undefined ? { title: body.title } : {}),
      ...(body.body !== undefined ? { body: body.body } : {}),
      variables,
      templates,
      ...(experiment ? { experiment } : {}),
      ...(body.data ? { data: body.data } : {}),
      priority: body.priority ?? 'normal',
      ...(body.ttlSeconds !== undefined ? { ttlSeconds: body.ttlSeconds } : {}),
      ...(body.collapseKey ? { collapseKey: body.collapseKey } : {}),
      ...(body.category ? { category: body.category } : {}),
      ...(body.sendAt !== undefined ? { sendAt: body.sendAt } : {}),
      defaultSendHour: body.defaultSendHour ?? 18,
      channel: body.channel ?? 'push',
      createdAt: now,
      trace: injectContext(),
      ...(body.ttlSeconds !== undefined
        ? { expiresAt: Math.max(now, sendAtMs ?? now) + body.ttlSeconds * 1000 }
        : {}),
    };
  }

  /**
   * The recipient rows: one per device (or `ws` for a connected user), with skips, holds
   * and schedules applied. The audience is read page by page and only compact rows are
   * kept, so memory follows the audience size in rows, not in devices with their tokens.
   */
  async #audience(req: JobRequest, now: number): Promise<NewRecipient[]> {
    const { store } = this.#o;
    const out: NewRecipient[] = [];
    const wsSent = new Set<string>();
    const baseTime = req.sendAt && req.sendAt !== 'optimal' ? Date.parse(req.sendAt) : now;
    const addPage = async (devices: readonly Device[], users: readonly string[]): Promise<void> => {
      const byUser = new Map<string, Device[]>();
      for (const id of users) byUser.set(id, []);
      for (const d of devices) {
        let list = byUser.get(d.userId);
        if (!list) byUser.set(d.userId, (list = []));
        list.push(d);
      }
      const ids = [...byUser.keys()];
      const prefs = new Map((await store.preferences.getMany(ids)).map((p) => [p.userId, p]));
      const consent = new Map((await store.consent.getMany(ids)).map((c) => [c.userId, c]));
      const online = req.channel === 'auto' ? await this.#o.connectedUsers(ids) : new Set<string>();
      for (const [userId, list] of byUser)
        this.#recipientsOf(
          req,
          userId,
          list,
          prefs.get(userId),
          consent.get(userId)?.marketing,
          online.has(userId),
          wsSent,
          now,
          baseTime,
          out,
        );
      if (out.length > this.#o.maxRecipients)
        throw new BadRequestError(
          `the audience has more than ${this.#o.maxRecipients} devices (PUSH_MAX_RECIPIENTS)`,
        );
    };
    if (req.audience.userIds) {
      const ids = req.audience.userIds;
      for (let i = 0; i < ids.length; i += AUDIENCE_PAGE) {
        const users = ids.slice(i, i + AUDIENCE_PAGE);
        await addPage(await store.devices.listForUsers(users), users);
      }
      return out;
    }
    let after: string | null = null;
    do {
      const page: Page<Device> = req.audience.topic
        ? await store.devices.listByTopic(req.audience.topic, { after, limit: AUDIENCE_PAGE })
        : await store.devices.page({ after, limit: AUDIENCE_PAGE });
      await addPage(page.items, []);
      after = page.next;
    } while (after);
    return out;
  }

  /** One user's rows (a user's devices may come in several pages: decisions are per user and the same each time). */
  #recipientsOf(
    req: JobRequest,
    userId: string,
    devices: readonly Device[],
    pref: StoredPreferences | undefined,
    marketingConsent: boolean | undefined,
    online: boolean,
    wsSent: Set<string>,
    now: number,
    baseTime: number,
    out: NewRecipient[],
  ): void {
    const variant = req.experiment
      ? assignVariant(req.experiment.name, userId, req.experiment.variants).name
      : null;
    const base = { userId, ...(variant ? { variant } : {}) };
    const marketingDenied =
      req.category === 'marketing' && !(marketingConsent ?? this.#o.consentDefault === 'granted');
    if ((req.category && pref?.optOut.includes(req.category)) || marketingDenied) {
      const lastError = marketingDenied ? 'no marketing consent' : 'opted out';
      if (devices.length === 0)
        out.push({ ...base, deviceId: null, platform: null, state: 'skipped', lastError });
      for (const d of devices)
        out.push({ ...base, deviceId: d.id, platform: d.platform, state: 'skipped', lastError });
      return;
    }
    if (online) {
      if (!wsSent.has(userId)) out.push({ ...base, deviceId: 'ws', platform: 'ws', notBefore: 0 });
      wsSent.add(userId);
      return;
    }
    if (devices.length === 0) {
      out.push({ ...base, deviceId: null, platform: null, state: 'skipped', lastError: 'no device' });
      return;
    }
    for (const d of devices) {
      const tz = d.timezone ?? pref?.timezone ?? 'UTC';
      let at = baseTime;
      if (req.sendAt === 'optimal')
        at = nextSendTime(now, this.bestHour(userId, req.defaultSendHour).localHour, tz);
      let state: 'pending' | 'held' = 'pending';
      if (req.priority !== 'critical' && pref?.quietHours && inQuietHours(at, pref.quietHours, tz)) {
        state = 'held';
        at = quietHoursEnd(at, pref.quietHours, tz);
      }
      out.push({ ...base, deviceId: d.id, platform: d.platform, state, notBefore: at > now ? at : 0 });
    }
  }

  bestHour(userId: string, defaultHour = 18): { localHour: number; basis: 'learned' | 'default' } {
    const b = this.sendTime.bestHour(userId, { nowMs: this.#o.clock.now(), defaultHour });
    return { localHour: b.localHour, basis: b.basis };
  }

  async sendTimeOf(
    userId: string,
  ): Promise<{ localHour: number; timezone: string; basis: 'learned' | 'default' }> {
    const pref = await this.#o.store.preferences.get(userId);
    const devices = pref?.timezone ? [] : await this.#o.store.devices.listByUser(userId);
    const timezone = pref?.timezone ?? devices.find((d) => d.timezone)?.timezone ?? 'UTC';
    return { ...this.bestHour(userId), timezone };
  }

  async jobStatus(jobId: string): Promise<JobStatusView | null> {
    const job = await this.#o.store.jobs.get(jobId);
    if (!job) return null;
    const c = job.counters;
    const byPlatform: JobStatusView['byPlatform'] = {};
    const byVariant: JobStatusView['byVariant'] = {};
    for (const row of await this.#o.store.jobs.breakdown(jobId)) {
      if (row.platform) {
        const p = (byPlatform[row.platform] ??= { sent: 0, delivered: 0, failed: 0 });
        if (row.state === 'delivered') p.delivered += row.count;
        if (row.state === 'failed' || row.state === 'invalid') p.failed += row.count;
        if (
          row.state === 'delivered' ||
          row.state === 'failed' ||
          row.state === 'invalid' ||
          row.state === 'sent'
        )
          p.sent += row.count;
      }
      if (row.variant) {
        const v = (byVariant[row.variant] ??= { recipients: 0, sent: 0, opened: 0 });
        v.recipients += row.count;
        if (row.state === 'delivered' || row.state === 'sent') v.sent += row.count;
      }
    }
    const req = job.request as unknown as JobRequest;
    if (req.experiment)
      for (const r of await this.#o.store.experiments.results(req.experiment.name))
        if (byVariant[r.variant]) byVariant[r.variant]!.opened = r.opened;
    const status = job.status === 'failed' ? 'failed' : c.pending === 0 ? 'done' : job.status;
    return {
      jobId: job.id,
      status,
      total: c.total,
      // Attempted: handed to a provider or the inbox, whatever it answered.
      sent: c.sent + c.delivered + c.failed + c.invalidTokens,
      delivered: c.delivered,
      failed: c.failed + c.invalidTokens,
      skipped: c.skipped,
      held: c.held,
      expired: c.expired,
      invalidTokens: c.invalidTokens,
      pending: c.pending,
      byPlatform,
      byVariant,
      createdAt: new Date(job.createdAt).toISOString(),
    };
  }

  async experiment(name: string): Promise<{
    name: string;
    variants: Array<Record<string, unknown>>;
    winner: string | null;
    pValue: number | null;
  }> {
    const results = await this.#o.store.experiments.results(name);
    if (results.length === 0) throw new BackbeatError('NOT_FOUND', `no experiment ${JSON.stringify(name)}`);
    // The store keeps no variant weights: they are reported as 1 (docs/push.md says so).
    const a: ExperimentAnalysis = analyze(
      results.map((r) => ({
        name: r.variant,
        weight: 1,
        recipients: r.recipients,
        sent: r.sent,
        opened: r.opened,
      })),
    );
    return {
      name,
      variants: a.variants.map((v) => ({
        name: v.name,
        weight: v.weight,
        recipients: v.recipients,
        sent: v.sent,
        opened: v.opened,
        openRate: v.openRate,
      })),
      winner: a.winner,
      pValue: a.pValue,
    };
  }

  /** `notification.opened`: counts the open for its experiment variant and teaches the send-time model. */
  async onOpened(notificationId: string): Promise<void> {
    await this.#o.store.experiments.markOpened(notificationId);
  }
}

function asBadRequest(err: unknown): Error {
  if (err instanceof TemplateError) return new BadRequestError(err.message);
  return err as Error;
}

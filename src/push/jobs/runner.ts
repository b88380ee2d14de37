import { randomUUID } from 'node:crypto';
import { boundedCache } from '../../core/cache/index.ts';
import { backoffMs, DependencyBreaker } from '../../core/resilience/index.ts';
import { extractContext, withSpan, type Logger, type Metrics } from '../../core/observability/index.ts';
import type { Clock, TimerHandle } from '../../core/time/index.ts';
import type { Device, Job, Outcome, Recipient, Store, StoredPreferences } from '../../core/store/index.ts';
import type { PushMetrics } from '../metrics.ts';
import type { Platform, PushMessage, PushOutcome, PushProvider, PushTarget } from '../providers/types.ts';
import { notificationIdOf, type JobRequest } from '../request.ts';
import { inQuietHours, quietHoursEnd } from '../schedule/index.ts';
import type { TemplateEngine } from '../templates/index.ts';
import { OutcomeWriter } from './outcome-writer.ts';

export interface JobRunnerOptions {
  nodeId: string;
  /** Recipients claimed at once. */
  batchSize: number;
  /** Deliveries in flight at once on this node. */
  maxInFlight: number;
  leaseMs: number;
  /** Send attempts per device before a retriable failure is final. */
  maxAttempts: number;
  /** How often an idle runner looks for due recipients (a job created here wakes it at once). */
  pollMs: number;
  /** First retry backoff; doubles per attempt, full jitter, capped at 5 min. */
  retryBaseMs: number;
}

export interface JobRunnerDeps {
  store: Store;
  providers: Partial<Record<Platform, PushProvider>>;
  templates: TemplateEngine;
  /** Publishes to the user's inbox `user:{id}` (channel "auto"). */
  publishInbox: (userId: string, payload: Record<string, unknown>) => Promise<void>;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  pushMetrics: PushMetrics;
}

/** An outcome a provider breaker counts as the provider's failure. */
class ProviderFailure extends Error {
  readonly outcome: PushOutcome;
  constructor(outcome: PushOutcome) {
    super(`provider answered ${outcome.kind}`);
    this.outcome = outcome;
  }
}

/**
 * Runs notification jobs from the store: claims due recipients under a lease (so nodes
 * sharing the store never send one twice, and a dead node's recipients are taken over),
 * renders each in its device's locale, delivers through the platform's provider (or the
 * inbox for `ws`), and records each outcome as it arrives. A provider failing again and
 * again opens its breaker: its recipients wait and retry, the other providers go on.
 */
export class JobRunner {
  readonly #o: JobRunnerOptions;
  readonly #d: JobRunnerDeps;
  readonly #writer: OutcomeWriter;
  readonly #breakers = new Map<string, DependencyBreaker>();
  /** Jobs with work in flight, the 1,000 most recently used (lru-cache: O(1) eviction). */
  readonly #jobs = boundedCache<string, { job: Job; request: JobRequest; loadedAt: number }>(1000);
  /** Rendered (title, body) per job, template and locale: variables are job-wide. 10,000 most recently used. */
  readonly #rendered = boundedCache<string, { title: string; body: string }>(10_000);
  #running = false;
  #loops: Array<Promise<void>> = [];
  /** Idle lanes waiting for the poll timer or a wake. */
  readonly #sleepers = new Set<() => void>();
  #inFlight = 0;
  #renewTimer: TimerHandle | undefined;
  /**
   * Whom this process's leases name: the node id plus a suffix new at each start. A node
   * restarted after kill -9 has the same NODE_ID (stable per DATA_DIR); with the bare id
   * its lease renewals would keep its dead predecessor's leases alive for as long as it
   * had work, and those recipients would wait for the end of the job instead of PUSH_LEASE_MS.
   */
  readonly #owner: string;

  constructor(opts: JobRunnerOptions, deps: JobRunnerDeps) {
    this.#o = opts;
    this.#d = deps;
    this.#owner = `${opts.nodeId}/${randomUUID().slice(0, 8)}`;
    this.#writer = new OutcomeWriter(deps.store.jobs, deps.pushMetrics);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    // Leases of recipients in flight are renewed well before they lapse.
    this.#renewTimer = this.#d.clock.setInterval(
      () => {
        if (this.#inFlight > 0)
          this.#d.store.leases
            .renew(this.#owner, this.#o.leaseMs)
            .catch((err: unknown) => this.#d.logger.warn({ err }, 'lease renewal failed'));
      },
      Math.max(500, this.#o.leaseMs / 3),
    );
    // Several lanes claim and send batches independently (leases keep them disjoint), so
    // one batch's slow tail — a provider answering slower than the others — never idles the
    // node: with PUSH_MAX_IN_FLIGHT 2000 and batches of 1000, two batches overlap.
    const lanes = Math.max(1, Math.ceil(this.#o.maxInFlight / this.#o.batchSize));
    this.#laneConcurrency = Math.max(1, Math.ceil(this.#o.maxInFlight / lanes));
    this.#loops = Array.from({ length: lanes }, () => this.#run());
  }

  #laneConcurrency = 1;

  /** A job was created (or a recipient became due): look now instead of at the next poll. */
  wake(): void {
    for (const wake of [...this.#sleepers]) wake();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.wake();
    this.#renewTimer?.cancel();
    await Promise.all(this.#loops);
    await this.#writer.flush();
    // What this node claimed and did not send goes back at once, not after the lease.
    await this.#d.store.leases.release(this.#owner).catch(() => 0);
    for (const b of this.#breakers.values()) b.shutdown();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let claimed: Recipient[] = [];
      try {
        claimed = await this.#d.store.leases.claim({
          nodeId: this.#owner,
          leaseMs: this.#o.leaseMs,
          limit: this.#o.batchSize,
        });
      } catch (err) {
        this.#d.logger.warn({ err }, 'claiming push recipients failed; retrying');
      }
      if (claimed.length === 0) {
        await this.#idle();
        continue;
      }
      try {
        await this.#process(claimed);
      } catch (err) {
        this.#d.logger.error({ err }, 'push batch failed; its leases lapse and it is retried');
      }
    }
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined = undefined;
      const done = (): void => {
        timer?.cancel();
        this.#sleepers.delete(done);
        resolve();
      };
      this.#sleepers.add(done);
      timer = this.#d.clock.setTimeout(done, this.#o.pollMs);
    });
  }

  async #process(batch: Recipient[]): Promise<void> {
    const { store } = this.#d;
    const deviceIds = batch.filter((r) => r.deviceId && r.deviceId !== 'ws').map((r) => r.deviceId!);
    const devices = new Map((await store.devices.getMany(deviceIds)).map((d) => [d.id, d]));
    const prefs = new Map(
      (await store.preferences.getMany(batch.map((r) => r.userId))).map((p) => [p.userId, p]),
    );
    const jobIds = [...new Set(batch.map((r) => r.jobId))];
    for (const id of jobIds) await this.#job(id, true);
    // Bounded concurrency: each recipient is its own task; the batch finishes when all have.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batch.length) {
        const r = batch[next++]!;
        this.#inFlight++;
        this.#d.pushMetrics.inFlight.set(this.#inFlight);
        try {
          const trace = this.#jobs.get(r.jobId)?.request.trace;
          await withSpan('push.deliver', extractContext(trace), async (span) => {
            span.setAttribute('backbeat.job', r.jobId);
            span.setAttribute('backbeat.platform', r.platform ?? 'none');
            await this.#deliver(r, devices, prefs);
          });
        } catch (err) {
          this.#d.logger.error({ err, job: r.jobId, seq: r.seq }, 'push delivery failed unexpectedly');
          await this.#record({
            jobId: r.jobId,
            seq: r.seq,
            state: 'failed',
            error: `internal: ${(err as Error).message}`,
          });
        } finally {
          this.#inFlight--;
          this.#d.pushMetrics.inFlight.set(this.#inFlight);
        }
      }
    };
    // Workers start in small groups, one event-loop turn apart: each send does synchronous
    // work before its first await (Web Push encryption, ~200 µs), and a thousand at once
    // would block the loop (status reads, the gateway) for a fifth of a second.
    const workers: Array<Promise<void>> = [];
    const n = Math.min(this.#laneConcurrency, batch.length);
    for (let i = 0; i < n; i++) {
      if (i > 0 && i % 32 === 0) await new Promise<void>((r) => setImmediate(r));
      workers.push(worker());
    }
    await Promise.all(workers);
    for (const id of jobIds) await this.#finishIfDone(id);
  }

  async #job(id: string, refresh = false): Promise<{ job: Job; request: JobRequest } | undefined> {
    const cached = this.#jobs.get(id);
    if (cached && !(refresh && this.#d.clock.now() - cached.loadedAt > 1000)) return cached;
    const job = await this.#d.store.jobs.get(id);
    if (!job) return undefined;
    if (job.status === 'queued' || job.status === 'scheduled')
      await this.#d.store.jobs.setStatus(id, 'running');
    const entry = { job, request: job.request as unknown as JobRequest, loadedAt: this.#d.clock.now() };
    this.#jobs.set(id, entry);
    return entry;
  }

  async #finishIfDone(id: string): Promise<void> {
    const job = await this.#d.store.jobs.get(id);
    if (job && job.counters.pending === 0 && job.status !== 'done' && job.status !== 'failed') {
      await this.#d.store.jobs.setStatus(id, 'done');
      this.#d.logger.info({ job: id, counters: job.counters }, 'push job done');
    }
  }

  #record(o: Outcome): Promise<boolean> {
    return this.#writer.record({ ...o, nodeId: this.#owner });
  }

  async #deliver(
    r: Recipient,
    devices: Map<string, Device>,
    prefs: Map<string, StoredPreferences>,
  ): Promise<void> {
    const now = this.#d.clock.now();
    const ref = { jobId: r.jobId, seq: r.seq };
    const entry = await this.#job(r.jobId);
    if (!entry || entry.job.status === 'failed')
      return void (await this.#record({ ...ref, state: 'skipped', error: 'job cancelled' }));
    const req = entry.request;
    if (req.expiresAt !== undefined && now >= req.expiresAt)
      return void (await this.#record({ ...ref, state: 'expired' }));
    const pref = prefs.get(r.userId);
    const device = r.deviceId && r.deviceId !== 'ws' ? devices.get(r.deviceId) : undefined;
    // Quiet hours are checked again at send time (a retry, or preferences changed since).
    const tz = device?.timezone ?? pref?.timezone ?? 'UTC';
    if (req.priority !== 'critical' && pref?.quietHours && inQuietHours(now, pref.quietHours, tz)) {
      return void (await this.#record({
        ...ref,
        state: 'held',
        notBefore: quietHoursEnd(now, pref.quietHours, tz),
      }));
    }
    const notificationId = notificationIdOf(r.jobId, r.seq);
    const locale = device?.locale ?? pref?.locale ?? null;
    const content = this.#render(entry.job.id, req, r.variant, locale);
    const variant =
      r.variant && req.experiment ? { experiment: req.experiment.name, variant: r.variant } : undefined;
    if (r.platform === 'ws') {
      await this.#d.publishInbox(r.userId, {
        kind: 'notification',
        notificationId,
        title: content.title,
        body: content.body,
        data: req.data ?? {},
      });
      this.#d.pushMetrics.deliveries.labels('ws', 'delivered').inc();
      await this.#record({ ...ref, state: 'delivered' });
      if (variant)
        await this.#d.store.experiments.assign({ ...variant, userId: r.userId, notificationId, sent: true });
      return;
    }
    if (!device)
      return void (await this.#record({ ...ref, state: 'skipped', error: 'device no longer registered' }));
    const provider = this.#d.providers[device.platform];
    if (!provider)
      return void (await this.#record({
        ...ref,
        state: 'failed',
        error: `no provider configured for ${device.platform}`,
      }));
    const message: PushMessage = {
      notificationId,
      title: content.title,
      body: content.body,
      ...(req.data ? { data: req.data } : {}),
      priority: req.priority,
      ...(req.expiresAt !== undefined
        ? { ttlSeconds: Math.max(0, Math.floor((req.expiresAt - now) / 1000)) }
        : {}),
      ...(req.collapseKey ? { collapseKey: req.collapseKey } : {}),
    };
    const target: PushTarget =
      device.platform === 'web'
        ? { platform: 'web', subscription: device.subscription }
        : { platform: device.platform, token: device.token };
    const outcome = await this.#send(provider, target, message);
    this.#d.pushMetrics.deliveries.labels(provider.name, outcome.kind).inc();
    await this.#apply(r, device, outcome, now);
    if (variant)
      await this.#d.store.experiments.assign({
        ...variant,
        userId: r.userId,
        notificationId,
        sent: outcome.kind === 'delivered',
      });
  }

  /** One send through the provider's breaker; an open breaker answers `unavailable` without sending. */
  async #send(
    provider: PushProvider,
    target: PushTarget,
    message: PushMessage,
  ): Promise<PushOutcome | { kind: 'unavailable'; reason: string }> {
    let breaker = this.#breakers.get(provider.name);
    if (!breaker) {
      breaker = new DependencyBreaker(
        `push:${provider.name}`,
        { metrics: this.#d.metrics, logger: this.#d.logger },
        { timeoutMs: 60_000, volumeThreshold: 20, errorThresholdPercentage: 50, resetTimeoutMs: 5000 },
      );
      this.#breakers.set(provider.name, breaker);
    }
    const end = this.#d.pushMetrics.sendDuration.startTimer({ provider: provider.name });
    try {
      return await breaker.call(async () => {
        const o = await provider.send(target, message);
        // Retries and refusals of our credentials are the provider's failures; a dead token is not.
        if (o.kind === 'retry' || o.kind === 'provider-error') throw new ProviderFailure(o);
        return o;
      });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof ProviderFailure) return cause.outcome;
      return { kind: 'unavailable', reason: (err as Error).message };
    } finally {
      end();
    }
  }

  async #apply(
    r: Recipient,
    device: Device,
    outcome: PushOutcome | { kind: 'unavailable'; reason: string },
    now: number,
  ): Promise<void> {
    const ref = { jobId: r.jobId, seq: r.seq };
    switch (outcome.kind) {
      case 'delivered':
        await this.#record({ ...ref, state: 'delivered' });
        return;
      case 'invalid-token':
        await this.#record({ ...ref, state: 'invalid', error: outcome.reason });
        await this.#d.store.devices.deleteDead(
          device.platform,
          device.platform === 'web' ? device.subscription.endpoint : device.token,
        );
        return;
      case 'failed':
        await this.#record({ ...ref, state: 'failed', error: outcome.reason });
        return;
      case 'provider-error':
        this.#d.pushMetrics.providerStopped
          .labels(this.#d.providers[device.platform]?.name ?? device.platform)
          .inc();
        this.#d.logger.error(
          { platform: device.platform, reason: outcome.reason },
          'push provider refuses our credentials: check its configuration',
        );
        await this.#retry(r, outcome.reason, now, 60_000);
        return;
      case 'retry':
        await this.#retry(r, outcome.reason, now, outcome.retryAfterMs);
        return;
      case 'unavailable':
        await this.#retry(r, outcome.reason, now, 5000);
        return;
    }
  }

  /** A retriable failure: pending again after a backoff (or the provider's Retry-After), failed after the last attempt. */
  async #retry(r: Recipient, reason: string, now: number, afterMs?: number): Promise<void> {
    const ref = { jobId: r.jobId, seq: r.seq };
    if (r.attempts + 1 >= this.#o.maxAttempts)
      return void (await this.#record({
        ...ref,
        state: 'failed',
        error: `gave up after ${r.attempts + 1} attempts: ${reason}`,
      }));
    const backoff = backoffMs(r.attempts + 1, this.#o.retryBaseMs, 300_000);
    await this.#record({
      ...ref,
      state: 'pending',
      notBefore: now + Math.max(afterMs ?? 0, backoff),
      error: reason,
    });
  }

  #render(
    jobId: string,
    req: JobRequest,
    variantName: string | null,
    locale: string | null,
  ): { title: string; body: string } {
    const templateName = variantName
      ? req.experiment?.variants.find((v) => v.name === variantName)?.template
      : req.template;
    if (!templateName) return { title: req.title ?? '', body: req.body ?? '' };
    const key = `${jobId}\u0000${templateName}\u0000${locale ?? ''}`;
    let out = this.#rendered.get(key);
    if (!out) {
      const def = req.templates[templateName];
      if (!def) throw new Error(`template ${templateName} missing from the job's snapshot`);
      const r = this.#d.templates.render(def, locale, req.variables);
      out = { title: r.title, body: r.body };
      this.#rendered.set(key, out);
    }
    return out;
  }
}

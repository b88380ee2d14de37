import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { TokenVerifier } from './core/auth/index.ts';
import type { Config } from './core/config/index.ts';
import { runAll, StartupError, StateMachine } from './core/lifecycle/index.ts';
import { createLogger, Metrics, type Logger } from './core/observability/index.ts';
import { DependencyBreaker } from './core/resilience/index.ts';
import { systemClock, type Clock } from './core/time/index.ts';
import { createMemoryEngines, createRedisEngines, Gateway, type Engines } from './gateway/index.ts';
import { createHttpServer } from './http/index.ts';
import {
  ConnectionManager,
  createStrategy,
  KeyOwnership,
  MemoryNodeRegistry,
  RedisNodeRegistry,
} from './connections/index.ts';
import { connectRedis, waitReady, type ScriptedRedis } from './gateway/index.ts';
import {
  createStreamEngines,
  StreamingService,
  type EventHandler,
  type StreamingTuning,
} from './streaming/index.ts';
import { openStore, type Store, type StoreHealth } from './core/store/index.ts';
import {
  createProviders,
  PushEventsHandler,
  PushMetrics,
  PushService,
  type Providers,
} from './push/index.ts';
import {
  AlertService,
  analyticsGdpr,
  AnalyticsService,
  gaugeTotal,
  GdprService,
  httpSummary,
  parseAlertRules,
  pushGdpr,
  seriesSampler,
  streamingGdpr,
  SystemPublisher,
} from './analytics/index.ts';
import { fileURLToPath } from 'node:url';

export type AppState = 'created' | 'starting' | 'ready' | 'draining' | 'closed';

const TRANSITIONS: Record<AppState, readonly AppState[]> = {
  created: ['starting', 'closed'],
  starting: ['ready', 'draining', 'closed'],
  ready: ['draining', 'closed'],
  draining: ['closed'],
  closed: [],
};

export interface AppDeps {
  logger?: Logger;
  clock?: Clock;
  /** Engines to use instead of the ones the config selects (tests, embedding). */
  engines?: Engines;
  /** Handlers of the event stream run after the built-in ones (embedding, tests). */
  eventHandlers?: EventHandler[];
  /** Event stream tuning over the configuration's (snapshots, lag limit): embedding, tests. */
  streaming?: StreamingTuning;
}

/**
 * STREAM_WORKER=auto runs the built-in stream handlers in a worker thread from this many
 * cores up. Measured 2026-12-04 (night) on 2 cores with the load generator on the same machine
 * (`bench/streaming/ingest.ts 300000 1000 4`, 5 interleaved runs each, medians): end to
 * end 27.6k events/s with the worker vs 19.9k without (1.39×), lag back to zero in 0.9 s
 * vs 3.9 s. (2026-12-04, before the worker got batches of 4,000 and the log's fsync left
 * the intake's thread, the worker measured slower here: 38.7k vs 43.1k on a faster box.)
 * The cost is a second V8 heap, ~20 MiB idle: STREAM_WORKER=false keeps it.
 */
const STREAM_WORKER_MIN_CORES = 2;

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * The composition root: picks engines from the config, builds every capability with
 * constructor injection, and owns start and the ordered, total, idempotent close.
 */
export class App {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly engines: Engines;
  readonly verifier: TokenVerifier;
  readonly breaker: DependencyBreaker;
  readonly gateway: Gateway;
  readonly streaming: StreamingService;
  readonly connections: ConnectionManager;
  /** Push notifications; set once `start()` has opened the store. */
  push: PushService | undefined;
  store: Store | undefined;
  readonly analytics: AnalyticsService;
  readonly alerts: AlertService;
  /** GDPR consent, export and erasure; set once `start()` has opened the store. */
  gdpr: GdprService | undefined;
  readonly #systemPublisher: SystemPublisher;
  readonly #providers: Providers;
  readonly #pushEvents: PushEventsHandler;
  #storeHealth: StoreHealth | undefined;
  #storeHealthTimer: ReturnType<typeof setInterval> | undefined;
  readonly #registryRedis: ScriptedRedis | undefined;
  readonly #ownership: KeyOwnership | undefined;
  readonly #lifecycle: StateMachine<AppState>;
  #http: FastifyInstance | undefined;
  #closing: Promise<void> | undefined;

  constructor(config: Config, deps: AppDeps = {}) {
    this.config = config;
    this.logger = deps.logger ?? createLogger(config.logLevel);
    this.clock = deps.clock ?? systemClock;
    this.metrics = new Metrics();
    this.#lifecycle = new StateMachine<AppState>('app', 'created', TRANSITIONS, this.logger);
    this.#lifecycle.onChange((to, from) => this.logger.info({ from, to, node: config.nodeId }, `app ${to}`));
    const historyOpts = {
      historySize: config.historySize,
      historyTtlMs: config.historyTtlMs,
      historyMetaTtlMs: config.historyMetaTtlMs,
    };
    this.engines =
      deps.engines ??
      (config.redisUrl
        ? createRedisEngines({
            url: config.redisUrl,
            prefix: config.redisPrefix,
            clock: this.clock,
            logger: this.logger.child({ component: 'redis' }),
            presenceTtlMs: config.presenceTtlMs,
            slotLeaseMs: Math.max(30_000, config.presenceTtlMs),
            cluster: config.redisCluster,
            ...historyOpts,
          })
        : createMemoryEngines({ clock: this.clock, ...historyOpts }));
    // A throw half-way through construction closes what was already opened (Redis sockets,
    // the event log's files or Kafka clients), then rethrows.
    let streamEngines: ReturnType<typeof createStreamEngines> | undefined;
    let providers: Providers | undefined;
    try {
      this.verifier = new TokenVerifier({
        secret: config.jwtSecret,
        publicKeyPem: config.jwtPublicKey,
        jwksUrl: config.jwksUrl,
        audience: config.jwtAudience,
        issuer: config.jwtIssuer,
        now: () => this.clock.now(),
      });
      this.breaker = new DependencyBreaker(`engines:${this.engines.kind}`, {
        metrics: this.metrics,
        logger: this.logger,
      });
      this.#providers = providers = createProviders(config, this.logger.child({ component: 'push' }));
      this.#pushEvents = new PushEventsHandler({
        store: () => this.store,
        model: () => this.push?.sendTime,
        consentDefault: config.consentDefault,
      });
      this.analytics = new AnalyticsService({
        clock: this.clock,
        logger: this.logger.child({ component: 'analytics' }),
        registry: this.metrics.registry,
        sessionGapMinutes: config.sessionGapMinutes,
        consentDefault: config.consentDefault,
        consent: async (ids) =>
          new Map(((await this.store?.consent.getMany(ids)) ?? []).map((c) => [c.userId, c])),
        dataDir: config.dataDir,
      });
      const alertRules = parseAlertRules(config.alertRules);
      const promRegistry = this.metrics.registry;
      const publishSystem = (channel: string, data: unknown) =>
        this.gateway.channels.publish(channel, data, { user: 'backbeat' }, 'system');
      this.alerts = new AlertService({
        rules: alertRules,
        ...(config.alertWebhookUrl ? { webhookUrl: config.alertWebhookUrl } : {}),
        sample: seriesSampler({
          registry: promRegistry,
          clock: this.clock,
          connections: () => this.gateway.connectionCount,
          // The main processor's gauge, or the stream worker's lag when it is larger (the
          // worker's series reach /metrics only when scraped; `lag()` knows both at once).
          eventLag: async () =>
            Math.max(
              await gaugeTotal(promRegistry, 'backbeat_streaming_consumer_lag'),
              this.streaming?.lag() ?? 0,
            ),
          dlqSize: () => gaugeTotal(promRegistry, 'backbeat_streaming_dead_letters'),
        }),
        publish: publishSystem,
        clock: this.clock,
        logger: this.logger.child({ component: 'alerts' }),
        registry: promRegistry,
      });
      this.#systemPublisher = new SystemPublisher({
        publish: publishSystem,
        overview: () => this.overview(),
        trending: async () => ({
          tracks: this.analytics.trending('track', '1h', 10).items,
          artists: this.analytics.trending('artist', '1h', 10).items,
        }),
        metrics: () => this.alerts.latest() ?? {},
        clock: this.clock,
        logger: this.logger.child({ component: 'dashboard' }),
      });
      const streamLogger = this.logger.child({ component: 'streaming' });
      streamEngines = createStreamEngines(
        {
          ...config,
          nodeId: config.nodeId!,
          registry: this.metrics.registry,
          maxDeadLetters: config.dlqMaxLetters,
        },
        streamLogger,
      );
      this.streaming = new StreamingService({
        ...streamEngines,
        clock: this.clock,
        logger: streamLogger,
        registry: this.metrics.registry,
        // Recommendation pushes go to the user's inbox channel like any publication.
        publish: (userId, data) =>
          this.gateway.channels.publish(`user:${userId}`, data, { user: 'backbeat' }, 'streaming'),
        // …and only while someone is subscribed to it (presence lists every subscriber, cluster-wide).
        listening: async (userId) => (await this.gateway.channels.presence(`user:${userId}`)).length > 0,
        maxBatch: config.eventsMaxBatch,
        maxJsonDepth: config.maxJsonDepth,
        retry: {
          attempts: config.eventHandlerAttempts,
          baseMs: config.eventRetryBaseMs,
          maxMs: config.eventRetryMaxMs,
        },
        pushDebounceMs: config.recommendationPushDebounceMs,
        maxPushesPerSec: config.recommendationPushMaxPerSec,
        factorRetrainMs: config.recommendationFactorsRetrainMs,
        pushItems: config.recommendationPushItems,
        maxPendingPushes: config.recommendationMaxPendingPushes,
        maxKnownUsers: config.recommendationMaxUsers,
        extraHandlers: [this.#pushEvents, this.analytics.handler, ...(deps.eventHandlers ?? [])],
        // With Kafka every node handles every event; one owner per user does the side effects.
        ...(config.kafkaBrokers ? { owns: (userId: string) => this.#ownership?.owns(userId) ?? true } : {}),
        // Handler-state snapshots under DATA_DIR/streaming/snapshots (per node, also with Kafka).
        dataDir: config.dataDir,
        snapshotDir: config.streamSnapshots ? config.streamSnapshotDir : false,
        snapshotEveryEvents: config.streamSnapshotEveryEvents,
        snapshotEveryMs: config.streamSnapshotEveryMs,
        snapshotKeep: config.streamSnapshotKeep,
        maxLag: config.streamMaxLag,
        backlogRetryAfterMs: config.streamBacklogRetryAfterMs,
        // The built-in handlers in a worker thread (STREAM_WORKER), unless a clock was
        // injected: a worker cannot share this thread's clock object (tests with fake clocks).
        // A worker thread of its own pays off when it gets a core of its own (STREAM_WORKER=auto).
        worker:
          (config.streamWorker === 'true' ||
            (config.streamWorker === 'auto' && availableParallelism() >= STREAM_WORKER_MIN_CORES)) &&
          !deps.clock,
        ...deps.streaming,
      });
      this.gateway = new Gateway(
        {
          nodeId: config.nodeId!,
          maxMessageBytes: config.maxMessageBytes,
          maxJsonDepth: config.maxJsonDepth,
          maxConnectionsPerUser: config.maxConnectionsPerUser,
          maxSubscriptionsPerConnection: config.maxSubscriptions,
          maxCommandsBeforeConnect: config.maxCommandsBeforeConnect,
          maxConnections: config.maxConnections,
          rateLimitCommands: config.rateLimitCommands,
          rateLimitWindowMs: config.rateLimitWindowMs,
          rateLimitCloseAfter: config.rateLimitCloseAfter,
          userRateLimitCommands: config.userRateLimitCommands,
          userRateLimitWindowMs: config.userRateLimitWindowMs,
          connectTimeoutMs: config.connectTimeoutMs,
          pingIntervalMs: config.pingIntervalMs,
          outboundMaxBytes: config.outboundMaxBytes,
          historySize: config.historySize,
          sessionTtlMs: config.sessionTtlMs,
          allowedOrigins: config.allowedOrigins,
        },
        {
          engines: this.engines,
          verifier: this.verifier,
          breaker: this.breaker,
          metrics: this.metrics,
          logger: this.logger.child({ component: 'gateway' }),
          clock: this.clock,
          events: this.streaming,
        },
      );
      this.#registryRedis = config.redisUrl
        ? connectRedis({
            url: config.redisUrl,
            failFast: true,
            connectionName: 'backbeat-registry',
            cluster: config.redisCluster,
          })
        : undefined;
      const registry = this.#registryRedis
        ? new RedisNodeRegistry({
            redis: this.#registryRedis,
            prefix: config.redisPrefix,
            clock: this.clock,
            ttlMs: config.nodeTtlMs,
          })
        : new MemoryNodeRegistry({ clock: this.clock, ttlMs: config.nodeTtlMs });
      this.connections = new ConnectionManager({
        registry,
        strategy: createStrategy(config.balancerStrategy),
        clock: this.clock,
        logger: this.logger.child({ component: 'connections' }),
        self: () => this.#selfInfo(),
        heartbeatMs: config.heartbeatIntervalMs,
      });
      this.#ownership = config.kafkaBrokers
        ? new KeyOwnership({
            self: config.nodeId!,
            nodes: () => this.connections.nodes(),
            clock: this.clock,
            refreshMs: config.heartbeatIntervalMs,
          })
        : undefined;
    } catch (err) {
      const opened = streamEngines;
      void Promise.allSettled([
        deps.engines ? undefined : this.engines.close(),
        providers?.close(),
        opened?.log.close(),
        opened?.dlq.close(),
        this.#registryRedis?.quit(),
      ]).then(() => this.#registryRedis?.disconnect());
      throw err;
    }
  }

  /** This node as the registry and balancers see it. */
  #selfInfo() {
    const r = this.#readiness();
    return {
      node: this.config.nodeId!,
      url: this.publicUrl.replace(/^http/, 'ws') + '/ws',
      connections: this.gateway.connectionCount,
      capacity: this.config.maxConnections,
      weight: this.config.nodeWeight,
      health: r.ready
        ? ('healthy' as const)
        : this.state === 'draining'
          ? ('draining' as const)
          : ('unhealthy' as const),
    };
  }

  get state(): AppState {
    return this.#lifecycle.state;
  }

  /** `http://host:port` once started. */
  get url(): string {
    const addr = this.#http?.server.address() as AddressInfo | null | undefined;
    if (!addr) throw new Error('app not started');
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${host}:${addr.port}`;
  }

  get publicUrl(): string {
    return this.config.publicUrl ?? this.url;
  }

  /**
   * Opens every dependency and starts serving. A failure closes whatever was already opened
   * (sockets, files, timers) and throws a StartupError naming the part that failed, the
   * setting that points at it and the real cause.
   */
  async start(): Promise<this> {
    if (!this.#lifecycle.set('starting')) throw new Error(`cannot start from ${this.state}`);
    const config = this.config;
    let part: [string, string | undefined] = config.redisUrl
      ? ['redis', 'REDIS_URL']
      : ['engines', undefined];
    try {
      await this.engines.start();
      if (this.#registryRedis) await waitReady(this.#registryRedis);
      part = ['store', config.databaseUrl ? 'DATABASE_URL' : 'DATA_DIR'];
      this.store = await openStore({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        logger: this.logger.child({ component: 'store' }),
        clock: this.clock,
      });
      this.#storeHealth = await this.store.health();
      this.#storeHealthTimer = setInterval(
        () => void this.store?.health().then((h) => (this.#storeHealth = h)),
        2000,
      );
      this.#storeHealthTimer.unref();
      part = ['push', undefined];
      this.push = this.#createPush(this.store);
      this.gdpr = this.#createGdpr(this.store, this.push);
      part = ['event stream', config.kafkaBrokers ? 'KAFKA_BROKERS' : 'DATA_DIR'];
      await this.streaming.start();
      part = ['http', undefined];
      this.#http = await this.#createHttp(this.push, this.gdpr);
      part = ['http listener', 'HOST/PORT'];
      await this.#http.listen({ host: config.host, port: config.port });
      part = ['background tasks', undefined];
      this.push.start();
      this.alerts.start();
      this.#systemPublisher.start();
      // Erasures left pending by a stop resume now (after the stream: on Kafka an eraser waits for this node to pass its marker).
      void this.gdpr
        .resume()
        .catch((err: unknown) => this.logger.error({ err }, 'resuming pending erasures failed'));
      this.#lifecycle.set('ready');
      part = ['node registry', config.redisUrl ? 'REDIS_URL' : undefined];
      await this.connections.start();
      await this.#ownership?.refresh();
    } catch (err) {
      const failure = new StartupError(part[0], part[1], err);
      this.logger.error({ err, part: part[0] }, 'start failed; closing what was opened');
      await this.close({ drain: false });
      throw failure;
    }
    return this;
  }

  #createGdpr(store: Store, push: PushService): GdprService {
    const pushEvents = this.#pushEvents;
    const parts = [
      streamingGdpr(this.streaming),
      pushGdpr(push, { invalidate: (u) => pushEvents.invalidate(u) }),
      analyticsGdpr(this.analytics),
    ];
    return new GdprService({
      store,
      erasers: parts.map((p) => p.eraser),
      exporters: parts.map((p) => p.exporter),
      consentDefault: this.config.consentDefault,
      clock: this.clock,
      logger: this.logger.child({ component: 'gdpr' }),
      registry: this.metrics.registry,
      onConsentChanged: (u, c) => {
        pushEvents.invalidate(u);
        this.analytics.consentChanged(u, c);
      },
    });
  }

  #createHttp(push: PushService, gdpr: GdprService): Promise<FastifyInstance> {
    return createHttpServer({
      gateway: this.gateway,
      streaming: this.streaming,
      push,
      analytics: this.analytics,
      alerts: this.alerts,
      gdpr,
      overview: () => this.overview(),
      dashboardDistDir: fileURLToPath(new URL('../dist', import.meta.url)),
      eventsBodyLimitBytes: this.config.eventsMaxBodyBytes,
      logger: this.logger,
      metrics: this.metrics,
      verifier: this.verifier,
      bodyLimitBytes: this.config.maxMessageBytes,
      requestTimeoutMs: this.config.httpRequestTimeoutMs,
      limits: {
        maxJsonDepth: this.config.maxJsonDepth,
        maxPendingBodies: this.config.httpMaxPendingBodies,
        maxPendingBodiesPerIp: this.config.httpMaxPendingBodiesPerIp,
      },
      version: VERSION,
      readiness: () => this.#readiness(),
      nodes: () => this.connections.nodes(),
      pickNode: (key) => this.connections.pick(key),
    });
  }

  /** `GET /v1/analytics/overview`: what the dashboard shows (SPEC §7). */
  async overview(): Promise<Record<string, unknown>> {
    const part = this.analytics.overviewPart();
    return {
      ...part,
      connections: this.gateway.connectionCount,
      http: await httpSummary(this.metrics.registry),
      alerts: { open: this.alerts.openCount() },
    };
  }

  #createPush(store: Store): PushService {
    const config = this.config;
    const pushEvents = this.#pushEvents;
    return new PushService({
      store,
      providers: this.#providers.byPlatform,
      vapidPublicKey: this.#providers.vapidPublicKey,
      // Connected right now, on any node: the user holds a connection slot (cluster-wide leases).
      connectedUsers: async (userIds) => {
        const online = new Set<string>();
        for (let i = 0; i < userIds.length; i += 1000) {
          const chunk = userIds.slice(i, i + 1000);
          const counts = await Promise.all(
            chunk.map((u) => this.engines.rateLimiter.slotCount(`conns:${u}`)),
          );
          chunk.forEach((u, j) => counts[j]! > 0 && online.add(u));
        }
        return online;
      },
      publishInbox: async (userId, payload) =>
        void (await this.gateway.channels.publish(`user:${userId}`, payload, { user: 'backbeat' }, 'push')),
      onUserChanged: (userId) => pushEvents.invalidate(userId),
      segmentUsers: (name) => this.analytics.segmentUsers(name),
      consentDefault: config.consentDefault,
      maxRecipients: config.pushMaxRecipients,
      runner: {
        nodeId: config.nodeId!,
        batchSize: config.pushBatchSize,
        maxInFlight: config.pushMaxInFlight,
        leaseMs: config.pushLeaseMs,
        maxAttempts: config.pushMaxAttempts,
        retryBaseMs: config.pushRetryBaseMs,
      },
      clock: this.clock,
      logger: this.logger.child({ component: 'push' }),
      metrics: this.metrics,
      pushMetrics: new PushMetrics(this.metrics.registry),
    });
  }

  #readiness() {
    const checks: Record<string, { ok: boolean; detail?: string }> = {
      ...this.engines.health(),
      eventLog: this.streaming.health(),
      ...(this.#storeHealth ? { store: { ok: this.#storeHealth.ok, detail: this.#storeHealth.detail } } : {}),
      breaker: { ok: !this.breaker.isOpen, detail: this.breaker.isOpen ? 'open' : 'closed' },
    };
    const ok = Object.values(checks).every((c) => c.ok);
    return { ready: this.state === 'ready' && ok, state: this.state, checks };
  }

  /**
   * Graceful, ordered, total and idempotent: stop intake → drain clients with 1001
   * spread over DRAIN_MS → close HTTP → engines. Every step runs even if one fails.
   */
  close(opts: { drain?: boolean } = {}): Promise<void> {
    this.#closing ??= (async () => {
      const drain = opts.drain ?? true;
      if (this.state === 'ready' || this.state === 'starting') this.#lifecycle.set('draining');
      await runAll(
        [
          ['deregister', () => this.connections.close()],
          ['dashboard publisher', () => this.#systemPublisher.close()],
          ['alerts', () => this.alerts.close()],
          ['ownership', () => this.#ownership?.close()],
          [
            'drain clients',
            () =>
              drain ? this.gateway.drain(this.config.drainMs, this.config.shutdownTimeoutMs) : undefined,
          ],
          ['gateway', () => this.gateway.close()],
          ['http', () => this.#http?.close()],
          ['push runner', () => this.push?.stop()],
          ['gdpr', () => this.gdpr?.close()],
          ['streaming', () => this.streaming.close()],
          ['push providers', () => this.#providers.close()],
          [
            'store',
            async () => {
              if (this.#storeHealthTimer) clearInterval(this.#storeHealthTimer);
              await this.store?.close();
            },
          ],
          ['breaker', () => this.breaker.shutdown()],
          ['engines', () => this.engines.close()],
          [
            'registry connection',
            () => this.#registryRedis?.quit().catch(() => this.#registryRedis?.disconnect()),
          ],
        ],
        this.logger,
      ).finally(() => this.#lifecycle.set('closed'));
    })();
    return this.#closing;
  }
}

export async function startApp(config: Config, deps?: AppDeps): Promise<App> {
  return new App(config, deps).start();
}

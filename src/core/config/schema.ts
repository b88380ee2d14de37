import { z } from 'zod';

/**
 * The one configuration schema. Each entry maps an environment variable (SPEC §2) to a
 * typed field with its default and unit; docs/configuration.md is rendered from
 * `ConfigVars` and a test keeps it in sync. Units are in the names (`…Ms`, `…Bytes`).
 */

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

export interface ConfigVar {
  env: string;
  key: string;
  schema: z.ZodType;
  default: string | undefined;
  doc: string;
}

/** Declaration order is the order of docs/configuration.md. */
export const ConfigVars = [
  v('HOST', 'host', z.string().min(1), '127.0.0.1', 'HTTP + WebSocket listen address'),
  v('PORT', 'port', int(0, 65535), '8080', 'HTTP + WebSocket listen port (0 picks a free port)'),
  v(
    'PUBLIC_URL',
    'publicUrl',
    optionalString.pipe(z.url().optional()),
    undefined,
    'URL clients use to reach this node (defaults to http://HOST:PORT)',
  ),
  v(
    'NODE_ID',
    'nodeId',
    optionalString.pipe(
      z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9_.-]')
        .optional(),
    ),
    undefined,
    "this node's name in the cluster; random and stable per DATA_DIR when unset",
  ),
  v('DATA_DIR', 'dataDir', z.string().min(1), './data', 'embedded store and event log directory'),
  v(
    'JWT_SECRET',
    'jwtSecret',
    optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
    undefined,
    'HS256 key for client and service tokens; embedded mode generates a development one when unset',
  ),
  v(
    'JWT_PUBLIC_KEY',
    'jwtPublicKey',
    optionalString,
    undefined,
    'PEM (SPKI) public key, or a path to one, for RS256/ES256 tokens',
  ),
  v(
    'JWKS_URL',
    'jwksUrl',
    optionalString.pipe(z.url().optional()),
    undefined,
    'JWKS endpoint for RS256/ES256 tokens',
  ),
  v('JWT_AUDIENCE', 'jwtAudience', optionalString, undefined, 'required `aud` claim when set'),
  v('JWT_ISSUER', 'jwtIssuer', optionalString, undefined, 'required `iss` claim when set'),
  v(
    'ALLOWED_ORIGINS',
    'allowedOrigins',
    optionalString.transform((s) =>
      s === undefined
        ? undefined
        : s
            .split(',')
            .map((o) => o.trim())
            .filter(Boolean),
    ),
    undefined,
    'comma list of browser origins allowed to open WebSockets; any when unset',
  ),
  v(
    'REDIS_URL',
    'redisUrl',
    optionalString.pipe(
      z
        .url()
        .refine((u) => /^rediss?:/.test(u), 'must start with redis:// or rediss://')
        .optional(),
    ),
    undefined,
    'Redis for cluster engines (broker, presence, history, rate limits, node registry)',
  ),
  v(
    'REDIS_CLUSTER',
    'redisCluster',
    z.enum(['true', 'false']).transform((v) => v === 'true'),
    'false',
    'REDIS_URL is a seed node of a Redis Cluster: per-channel traffic uses sharded pub/sub',
  ),
  v(
    'REDIS_PREFIX',
    'redisPrefix',
    z.string().regex(/^[A-Za-z0-9_.:-]{0,64}$/, 'must be up to 64 of [A-Za-z0-9_.:-]'),
    'bb:',
    'prefix of every Redis key and pub/sub channel (several deployments can share one Redis)',
  ),
  v(
    'PRESENCE_TTL_MS',
    'presenceTtlMs',
    int(1000, 3_600_000),
    '9000',
    'cluster presence lease: members of a dead node disappear within this',
  ),
  v(
    'KAFKA_BROKERS',
    'kafkaBrokers',
    optionalString
      .transform((s) =>
        s === undefined
          ? undefined
          : s
              .split(',')
              .map((b) => b.trim())
              .filter(Boolean),
      )
      .refine(
        (l) => l === undefined || (l.length > 0 && l.every((b) => /^[A-Za-z0-9.\[\]:_-]+:\d{1,5}$/.test(b))),
        'must be a comma list of host:port',
      ),
    undefined,
    'comma list host:port of Kafka brokers: the event log goes to Kafka instead of the embedded log',
  ),
  v(
    'KAFKA_TOPIC',
    'kafkaTopic',
    z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'must be 1-200 of [A-Za-z0-9._-]'),
    'backbeat.events',
    'Kafka topic of the event log (created at start when missing); dead letters also go to <topic>.dlt',
  ),
  v(
    'KAFKA_PARTITIONS',
    'kafkaPartitions',
    int(1, 10_000),
    '6',
    'partitions of a topic Backbeat creates (events are keyed by user id)',
  ),
  v(
    'KAFKA_REPLICATION_FACTOR',
    'kafkaReplicationFactor',
    int(1, 32),
    '1',
    'replication factor of a topic Backbeat creates',
  ),
  v(
    'EVENTS_MAX_BATCH',
    'eventsMaxBatch',
    int(1, 100_000),
    '1000',
    'most events in one POST /v1/events batch',
  ),
  v(
    'EVENTS_MAX_BODY_BYTES',
    'eventsMaxBodyBytes',
    int(1024, 256 * 1024 * 1024),
    '4194304',
    'largest POST /v1/events body; bigger gets 413',
  ),
  v(
    'EVENT_LOG_RETENTION_MS',
    'eventLogRetentionMs',
    int(0, 3650 * 86_400_000),
    String(7 * 86_400_000),
    'embedded event log: events older than this (event time) are pruned (0 = keep)',
  ),
  v(
    'EVENT_LOG_RETENTION_EVENTS',
    'eventLogRetentionEvents',
    int(0, 1_000_000_000),
    '10000000',
    'embedded event log: newest events kept (0 = all)',
  ),
  v(
    'EVENT_DEDUPE_WINDOW',
    'eventDedupeWindow',
    int(1000, 100_000_000),
    '1000000',
    'event ids remembered for dropping duplicates (Kafka log; the embedded log dedupes over its retention)',
  ),
  v(
    'EVENT_DEDUPE_TTL_MS',
    'eventDedupeTtlMs',
    int(1000, 365 * 86_400_000),
    String(7 * 86_400_000),
    'how long an event id is remembered for dropping duplicates',
  ),
  v(
    'EVENT_HANDLER_ATTEMPTS',
    'eventHandlerAttempts',
    int(1, 100),
    '4',
    'attempts per event and handler (retriable errors) before it goes to the dead-letter queue',
  ),
  v(
    'EVENT_RETRY_BASE_MS',
    'eventRetryBaseMs',
    int(0, 60_000),
    '50',
    'first retry backoff of a failing handler; doubles per attempt, full jitter',
  ),
  v(
    'EVENT_RETRY_MAX_MS',
    'eventRetryMaxMs',
    int(0, 600_000),
    '2000',
    'largest retry backoff of a failing handler',
  ),
  v(
    'RECOMMENDATION_PUSH_DEBOUNCE_MS',
    'recommendationPushDebounceMs',
    int(0, 3_600_000),
    '1000',
    "after a play, the user's new recommendations are pushed to user:<id> once no play came for this long",
  ),
  v(
    'RECOMMENDATION_PUSH_MAX_PER_SEC',
    'recommendationPushMaxPerSec',
    int(1, 1_000_000),
    '500',
    'recommendation pushes per second at most (each computes a list); due pushes over it wait and keep coalescing',
  ),
  v(
    'DATABASE_URL',
    'databaseUrl',
    optionalString,
    undefined,
    'postgres:// URL; SQLite under DATA_DIR when unset',
  ),
  v(
    'APNS_KEY',
    'apnsKey',
    optionalString,
    undefined,
    'APNs token-auth signing key (.p8 PEM), inline or a path to the file; enables iOS push with APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC',
  ),
  v('APNS_KEY_ID', 'apnsKeyId', optionalString, undefined, 'the APNs key id (JWT kid)'),
  v('APNS_TEAM_ID', 'apnsTeamId', optionalString, undefined, 'the Apple developer team id (JWT iss)'),
  v('APNS_TOPIC', 'apnsTopic', optionalString, undefined, "the app's bundle id (apns-topic)"),
  v(
    'APNS_URL',
    'apnsUrl',
    optionalString.pipe(z.url().optional()),
    'https://api.push.apple.com',
    'APNs endpoint (https://api.sandbox.push.apple.com for development builds; a local server in tests)',
  ),
  v(
    'FCM_SERVICE_ACCOUNT',
    'fcmServiceAccount',
    optionalString,
    undefined,
    'FCM service-account JSON, inline or a path to the file; enables Android push',
  ),
  v(
    'FCM_URL',
    'fcmUrl',
    optionalString.pipe(z.url().optional()),
    undefined,
    'FCM origin (default https://fcm.googleapis.com)',
  ),
  v(
    'FCM_TOKEN_URL',
    'fcmTokenUrl',
    optionalString.pipe(z.url().optional()),
    undefined,
    "OAuth2 token endpoint (default the service account's token_uri)",
  ),
  v(
    'VAPID_PUBLIC_KEY',
    'vapidPublicKey',
    optionalString,
    undefined,
    'Web Push VAPID public key (base64url); embedded mode generates a pair under DATA_DIR when unset',
  ),
  v(
    'VAPID_PRIVATE_KEY',
    'vapidPrivateKey',
    optionalString,
    undefined,
    'Web Push VAPID private key (base64url)',
  ),
  v(
    'VAPID_SUBJECT',
    'vapidSubject',
    optionalString.pipe(
      z
        .string()
        .regex(/^(mailto:|https:\/\/)/, 'must start with mailto: or https://')
        .optional(),
    ),
    undefined,
    'VAPID contact (mailto: or https:); default mailto:push@backbeat.invalid',
  ),
  v(
    'PUSH_BATCH_SIZE',
    'pushBatchSize',
    int(1, 100_000),
    '1000',
    'recipients a node claims at once from the job store',
  ),
  v(
    'PUSH_MAX_IN_FLIGHT',
    'pushMaxInFlight',
    int(1, 100_000),
    '2000',
    'push deliveries in flight at once on this node (all providers)',
  ),
  v(
    'PUSH_LEASE_MS',
    'pushLeaseMs',
    int(1000, 3_600_000),
    '60000',
    "a claimed recipient's lease: another node takes it over when its node died this long ago",
  ),
  v(
    'PUSH_MAX_ATTEMPTS',
    'pushMaxAttempts',
    int(1, 100),
    '5',
    'attempts per device before a retriable failure counts as failed',
  ),
  v(
    'PUSH_RETRY_BASE_MS',
    'pushRetryBaseMs',
    int(0, 600_000),
    '1000',
    'first retry backoff of a device whose provider asked to retry; doubles per attempt, full jitter, at most 5 min (a Retry-After from the provider wins when longer)',
  ),
  v(
    'PUSH_MAX_RECIPIENTS',
    'pushMaxRecipients',
    int(1, 10_000_000),
    '1000000',
    'devices one notification may address',
  ),
  v(
    'CONSENT_DEFAULT',
    'consentDefault',
    z.enum(['granted', 'denied']),
    'granted',
    'consent of a user never asked (analytics, personalization, marketing)',
  ),
  v(
    'SESSION_GAP_MINUTES',
    'sessionGapMinutes',
    int(1, 1440),
    '30',
    'inactivity (event time) that ends a listening session in analytics',
  ),
  v(
    'ALERT_RULES',
    'alertRules',
    optionalString,
    undefined,
    'threshold alert rules: a JSON array of {name, metric, op, value, forSeconds}, or a path to a file holding one',
  ),
  v(
    'ALERT_WEBHOOK_URL',
    'alertWebhookUrl',
    optionalString.pipe(z.url().optional()),
    undefined,
    'where alert changes (open, resolve) are POSTed as JSON, with retries',
  ),
  v(
    'MAX_MESSAGE_BYTES',
    'maxMessageBytes',
    int(256, 16 * 1024 * 1024),
    '65536',
    'largest accepted WebSocket frame; bigger closes 4013',
  ),
  v(
    'MAX_JSON_DEPTH',
    'maxJsonDepth',
    int(2, 256),
    '32',
    'deepest nesting of objects/arrays accepted in any user JSON (frames, HTTP bodies, each event); deeper gets 4400 / 400',
  ),
  v(
    'HTTP_REQUEST_TIMEOUT_MS',
    'httpRequestTimeoutMs',
    int(1000, 600_000),
    '10000',
    'time a client has to send a whole HTTP request (headers and body); a slower one gets 408 and is closed',
  ),
  v(
    'HTTP_MAX_PENDING_BODIES',
    'httpMaxPendingBodies',
    int(1, 1_000_000),
    '512',
    'HTTP request bodies being received at once on this node; over it new requests with a body get 503',
  ),
  v(
    'HTTP_MAX_PENDING_BODIES_PER_IP',
    'httpMaxPendingBodiesPerIp',
    int(1, 1_000_000),
    '32',
    'HTTP request bodies being received at once from one client address; over it that client gets 429',
  ),
  v(
    'MAX_CONNECTIONS',
    'maxConnections',
    int(1, 10_000_000),
    '100000',
    'connections this node accepts (its capacity); over it upgrades get HTTP 503',
  ),
  v(
    'MAX_CONNECTIONS_PER_USER',
    'maxConnectionsPerUser',
    int(1, 100_000),
    '10',
    'concurrent connections per user; over it connect gets 4029',
  ),
  v(
    'MAX_SUBSCRIPTIONS',
    'maxSubscriptions',
    int(1, 100_000),
    '256',
    'channels one connection may subscribe to at once',
  ),
  v(
    'RATE_LIMIT_COMMANDS',
    'rateLimitCommands',
    int(1, 1_000_000),
    '100',
    'commands per connection per rate window',
  ),
  v('RATE_LIMIT_WINDOW_MS', 'rateLimitWindowMs', int(1, 3_600_000), '1000', 'sliding rate-limit window'),
  v(
    'RATE_LIMIT_CLOSE_AFTER',
    'rateLimitCloseAfter',
    int(1, 1_000_000),
    '50',
    'rejected commands within one window after which the connection is closed 4029',
  ),
  v(
    'USER_RATE_LIMIT_COMMANDS',
    'userRateLimitCommands',
    int(0, 10_000_000),
    '0',
    'commands per user per USER_RATE_LIMIT_WINDOW_MS across all connections and nodes (0 = off); over it 4029',
  ),
  v(
    'USER_RATE_LIMIT_WINDOW_MS',
    'userRateLimitWindowMs',
    int(1, 3_600_000),
    '1000',
    'sliding window of the per-user limit',
  ),
  v(
    'CONNECT_TIMEOUT_MS',
    'connectTimeoutMs',
    int(100, 600_000),
    '5000',
    'time to send `connect` before close 4008',
  ),
  v(
    'PING_INTERVAL_MS',
    'pingIntervalMs',
    int(1000, 3_600_000),
    '25000',
    'server WebSocket ping interval; a peer that misses two is dropped',
  ),
  v(
    'OUTBOUND_MAX_BYTES',
    'outboundMaxBytes',
    int(1024, 1024 * 1024 * 1024),
    '1048576',
    'per-connection outbound queue bound; a client over it is closed 4009',
  ),
  v('HISTORY_SIZE', 'historySize', int(0, 1_000_000), '100', 'publications kept per channel'),
  v(
    'HISTORY_TTL_MS',
    'historyTtlMs',
    int(0, 30 * 86_400_000),
    '300000',
    'how long a publication stays in history (0 = forever)',
  ),
  v(
    'HISTORY_META_TTL_MS',
    'historyMetaTtlMs',
    int(1000, 365 * 86_400_000),
    '86400000',
    "how long an idle channel's offset and epoch are kept after its last publication",
  ),
  v(
    'SESSION_TTL_MS',
    'sessionTtlMs',
    int(1000, 86_400_000),
    '300000',
    'how long a disconnected session can be resumed',
  ),
  v(
    'DRAIN_MS',
    'drainMs',
    int(0, 600_000),
    '2000',
    'on shutdown, clients are sent 1001 spread over this window',
  ),
  v(
    'SHUTDOWN_TIMEOUT_MS',
    'shutdownTimeoutMs',
    int(100, 600_000),
    '10000',
    'hard deadline for graceful shutdown',
  ),
  v(
    'BALANCER_STRATEGY',
    'balancerStrategy',
    z.enum(['round-robin', 'least-connections', 'weighted', 'consistent-hash']),
    'least-connections',
    'how GET /v1/connect picks a node: round-robin, least-connections, weighted (weight × spare capacity) or consistent-hash (on the user)',
  ),
  v(
    'NODE_WEIGHT',
    'nodeWeight',
    z
      .string()
      .trim()
      .regex(/^\d+(\.\d+)?$/, 'must be a positive number')
      .transform(Number)
      .pipe(z.number().positive('must be a positive number').max(1000)),
    '1',
    "this node's weight for the weighted strategy",
  ),
  v(
    'HEARTBEAT_INTERVAL_MS',
    'heartbeatIntervalMs',
    int(100, 60_000),
    '2000',
    'how often a node writes its record to the registry',
  ),
  v(
    'NODE_TTL_MS',
    'nodeTtlMs',
    int(300, 600_000),
    '6000',
    'a node whose record is older than this is dead and no longer offered by /v1/connect',
  ),
  v(
    'LOG_LEVEL',
    'logLevel',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    'info',
    'pino log level',
  ),
] as const;

function v<K extends string, S extends z.ZodType>(
  env: string,
  key: K,
  schema: S,
  def: string | undefined,
  doc: string,
) {
  return { env, key, schema, default: def, doc } as const;
}

type Vars = (typeof ConfigVars)[number];
export type Config = { readonly [V in Vars as V['key']]: z.output<V['schema']> } & {
  /** True when no JWT_SECRET/JWT_PUBLIC_KEY/JWKS_URL was given and a dev secret was generated. */
  readonly devSecret: boolean;
};

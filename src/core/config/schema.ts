import {
  FormatRegistry,
  Type,
  type ArrayOptions,
  type Static,
  type StringOptions,
  type TOptional,
  type TSchema,
} from '@sinclair/typebox';

/**
 * The one configuration schema. Each entry maps an environment variable (SPEC §2) to a
 * TypeBox schema of its parsed value, with its default and unit; docs/configuration.md is
 * rendered from `ConfigVars` and a test keeps it in sync. Units are in the names (`…Ms`,
 * `…Bytes`).
 *
 * How a value is read (load.ts, `decodeEnv`): trimmed; an optional variable that is unset
 * or empty is `undefined`; integers must be whole decimal numbers, numbers plain decimals,
 * booleans `true`/`false`, lists comma-separated (blank items dropped). Then the whole
 * result is checked with TypeBox `Value.Errors`, so every bad variable is reported at
 * once. `errorMessage` (a schema annotation) replaces the generic message of a failed
 * pattern or format with one a person can act on.
 */

/** WHATWG URL (what `new URL()` accepts); registered once for TypeBox `Value`. */
if (!FormatRegistry.Has('url')) FormatRegistry.Set('url', (s) => URL.canParse(s));

const int = (min: number, max: number) => Type.Integer({ minimum: min, maximum: max });
const text = (options?: StringOptions) => Type.String(options);
const url = (options?: StringOptions) => Type.String({ ...options, format: 'url' });
const bool = () => Type.Boolean();
const list = <T extends TSchema>(item: T, options?: ArrayOptions) => Type.Array(item, options);
const oneOf = <const T extends readonly string[]>(values: T) =>
  Type.Union(values.map((value) => Type.Literal(value as T[number])));
/** Unset, or set to an empty string: `undefined`. */
const optional = <T extends TSchema>(schema: T) => Type.Optional(schema);

export interface ConfigVar {
  env: string;
  key: string;
  schema: TSchema;
  default: string | undefined;
  doc: string;
}

/** Declaration order is the order of docs/configuration.md. */
export const ConfigVars = [
  v('HOST', 'host', text({ minLength: 1 }), '127.0.0.1', 'HTTP + WebSocket listen address'),
  v('PORT', 'port', int(0, 65535), '8080', 'HTTP + WebSocket listen port (0 picks a free port)'),
  v(
    'PUBLIC_URL',
    'publicUrl',
    optional(url()),
    undefined,
    'URL clients use to reach this node (defaults to http://HOST:PORT)',
  ),
  v(
    'NODE_ID',
    'nodeId',
    optional(text({ pattern: '^[A-Za-z0-9_.-]{1,64}$', errorMessage: 'must be 1-64 of [A-Za-z0-9_.-]' })),
    undefined,
    "this node's name in the cluster; random and stable per DATA_DIR when unset",
  ),
  v('DATA_DIR', 'dataDir', text({ minLength: 1 }), './data', 'embedded store and event log directory'),
  v(
    'JWT_SECRET',
    'jwtSecret',
    optional(text({ minLength: 32 })),
    undefined,
    'HS256 key for client and service tokens; embedded mode generates a development one when unset',
  ),
  v(
    'JWT_PUBLIC_KEY',
    'jwtPublicKey',
    optional(text()),
    undefined,
    'PEM (SPKI) public key, or a path to one, for RS256/ES256 tokens',
  ),
  v('JWKS_URL', 'jwksUrl', optional(url()), undefined, 'JWKS endpoint for RS256/ES256 tokens'),
  v('JWT_AUDIENCE', 'jwtAudience', optional(text()), undefined, 'required `aud` claim when set'),
  v('JWT_ISSUER', 'jwtIssuer', optional(text()), undefined, 'required `iss` claim when set'),
  v(
    'ALLOWED_ORIGINS',
    'allowedOrigins',
    optional(list(text())),
    undefined,
    'comma list of browser origins allowed to open WebSockets; any when unset',
  ),
  v(
    'REDIS_URL',
    'redisUrl',
    optional(url({ pattern: '^rediss?:', errorMessage: 'must start with redis:// or rediss://' })),
    undefined,
    'Redis for cluster engines (broker, presence, history, rate limits, node registry)',
  ),
  v(
    'REDIS_CLUSTER',
    'redisCluster',
    bool(),
    'false',
    'REDIS_URL is a seed node of a Redis Cluster: per-channel traffic uses sharded pub/sub',
  ),
  v(
    'REDIS_PREFIX',
    'redisPrefix',
    text({ pattern: '^[A-Za-z0-9_.:-]{0,64}$', errorMessage: 'must be up to 64 of [A-Za-z0-9_.:-]' }),
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
    optional(
      list(text({ pattern: '^[A-Za-z0-9.\\[\\]:_-]+:\\d{1,5}$' }), {
        minItems: 1,
        errorMessage: 'must be a comma list of host:port',
      }),
    ),
    undefined,
    'comma list host:port of Kafka brokers: the event log goes to Kafka instead of the embedded log',
  ),
  v(
    'KAFKA_TOPIC',
    'kafkaTopic',
    text({ pattern: '^[A-Za-z0-9._-]{1,200}$', errorMessage: 'must be 1-200 of [A-Za-z0-9._-]' }),
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
    'event ids remembered for dropping duplicates (Kafka log, and the shared Redis window in cluster mode; the embedded log alone dedupes over its retention)',
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
    'DLQ_MAX_LETTERS',
    'dlqMaxLetters',
    int(100, 100_000_000),
    '100000',
    'dead letters kept (every engine); over it the oldest are dropped, logged and counted',
  ),
  v(
    'STREAM_SNAPSHOTS',
    'streamSnapshots',
    bool(),
    'true',
    "snapshot the stream handlers' state so a restart replays only the log's tail (false: every start replays the whole retained log)",
  ),
  v(
    'STREAM_WORKER',
    'streamWorker',
    oneOf(['auto', 'true', 'false']),
    'auto',
    "run the built-in stream handlers (plays, recommendations, trending) in a worker thread, off the HTTP/WebSocket intake's thread; auto: when the machine has at least 2 cores (measured 1.39× the events/s end to end on 2 cores; costs ~20 MiB idle: false keeps every handler in the main thread; see docs/operations.md)",
  ),
  v(
    'STREAM_SNAPSHOT_DIR',
    'streamSnapshotDir',
    optional(text({ minLength: 1 })),
    undefined,
    'where handler snapshots are written (default DATA_DIR/streaming/snapshots)',
  ),
  v(
    'STREAM_SNAPSHOT_EVERY_EVENTS',
    'streamSnapshotEveryEvents',
    int(1000, 1_000_000_000),
    '1000000',
    'a snapshot after this many handled events (serializing pauses the handlers; see docs/operations.md)',
  ),
  v(
    'STREAM_SNAPSHOT_EVERY_MS',
    'streamSnapshotEveryMs',
    int(1000, 86_400_000),
    '300000',
    '…or this long after the last snapshot when anything was handled since',
  ),
  v(
    'STREAM_SNAPSHOT_KEEP',
    'streamSnapshotKeep',
    int(1, 100),
    '2',
    'snapshot files kept (the newest; an unreadable one falls back to the next, then to a full replay)',
  ),
  v(
    'STREAM_MAX_LAG',
    'streamMaxLag',
    int(0, 1_000_000_000),
    '1000000',
    'events appended but not yet handled at most; over it intake answers 503 / 4503 with Retry-After (0 = no limit)',
  ),
  v(
    'STREAM_BACKLOG_RETRY_AFTER_MS',
    'streamBacklogRetryAfterMs',
    int(100, 3_600_000),
    '5000',
    'Retry-After given with a refusal over STREAM_MAX_LAG',
  ),
  v(
    'RECOMMENDATION_PUSH_DEBOUNCE_MS',
    'recommendationPushDebounceMs',
    int(0, 3_600_000),
    '1000',
    "after a play, the user's new recommendations are pushed to user:<id> once no play came for this long (only while someone is subscribed to it: presence, cluster-wide)",
  ),
  v(
    'RECOMMENDATION_PUSH_MAX_PER_SEC',
    'recommendationPushMaxPerSec',
    int(1, 1_000_000),
    '500',
    'recommendation pushes per second at most (each computes a list); due pushes over it wait and keep coalescing',
  ),
  v(
    'RECOMMENDATION_PUSH_ITEMS',
    'recommendationPushItems',
    int(1, 100),
    '10',
    'recommendations in a list pushed to user:<id>',
  ),
  v(
    'RECOMMENDATION_MAX_PENDING_PUSHES',
    'recommendationMaxPendingPushes',
    int(100, 100_000_000),
    '100000',
    'users with a recommendation push pending at most; over it the oldest pending push is dropped (counted)',
  ),
  v(
    'RECOMMENDATION_FACTORS_RETRAIN_MS',
    'recommendationFactorsRetrainMs',
    int(0, 7 * 86_400_000),
    '3600000',
    "the recommendation model's latent factors (implicit ALS over the users' long-term profiles) are retrained this often, in 10 ms slices between batches (the first after a minute); 0: never, the model answers from its item-kNN part alone",
  ),
  v(
    'RECOMMENDATION_MAX_USERS',
    'recommendationMaxUsers',
    int(1000, 100_000_000),
    '1000000',
    'users whose last play time the recommendations handler remembers (least recently active forgotten first)',
  ),
  v(
    'DATABASE_URL',
    'databaseUrl',
    optional(text()),
    undefined,
    'postgres:// URL; SQLite under DATA_DIR when unset',
  ),
  v(
    'APNS_KEY',
    'apnsKey',
    optional(text()),
    undefined,
    'APNs token-auth signing key (.p8 PEM), inline or a path to the file; enables iOS push with APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC',
  ),
  v('APNS_KEY_ID', 'apnsKeyId', optional(text()), undefined, 'the APNs key id (JWT kid)'),
  v('APNS_TEAM_ID', 'apnsTeamId', optional(text()), undefined, 'the Apple developer team id (JWT iss)'),
  v('APNS_TOPIC', 'apnsTopic', optional(text()), undefined, "the app's bundle id (apns-topic)"),
  v(
    'APNS_URL',
    'apnsUrl',
    optional(url()),
    'https://api.push.apple.com',
    'APNs endpoint (https://api.sandbox.push.apple.com for development builds; a local server in tests)',
  ),
  v(
    'FCM_SERVICE_ACCOUNT',
    'fcmServiceAccount',
    optional(text()),
    undefined,
    'FCM service-account JSON, inline or a path to the file; enables Android push',
  ),
  v('FCM_URL', 'fcmUrl', optional(url()), undefined, 'FCM origin (default https://fcm.googleapis.com)'),
  v(
    'FCM_TOKEN_URL',
    'fcmTokenUrl',
    optional(url()),
    undefined,
    "OAuth2 token endpoint (default the service account's token_uri)",
  ),
  v(
    'VAPID_PUBLIC_KEY',
    'vapidPublicKey',
    optional(text()),
    undefined,
    'Web Push VAPID public key (base64url); embedded mode generates a pair under DATA_DIR when unset',
  ),
  v(
    'VAPID_PRIVATE_KEY',
    'vapidPrivateKey',
    optional(text()),
    undefined,
    'Web Push VAPID private key (base64url)',
  ),
  v(
    'VAPID_SUBJECT',
    'vapidSubject',
    optional(text({ pattern: '^(mailto:|https://)', errorMessage: 'must start with mailto: or https://' })),
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
    oneOf(['granted', 'denied']),
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
    optional(text()),
    undefined,
    'threshold alert rules: a JSON array of {name, metric, op, value, forSeconds}, or a path to a file holding one',
  ),
  v(
    'ALERT_WEBHOOK_URL',
    'alertWebhookUrl',
    optional(url()),
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
    'MAX_COMMANDS_BEFORE_CONNECT',
    'maxCommandsBeforeConnect',
    int(1, 10_000),
    '32',
    'commands a client may pipeline behind connect before its reply; past it each gets 4029',
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
    oneOf(['round-robin', 'least-connections', 'weighted', 'consistent-hash']),
    'least-connections',
    'how GET /v1/connect picks a node: round-robin, least-connections, weighted (weight × spare capacity) or consistent-hash (on the user)',
  ),
  v(
    'NODE_WEIGHT',
    'nodeWeight',
    Type.Number({ exclusiveMinimum: 0, maximum: 1000, errorMessage: 'must be a positive number' }),
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
    oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    'info',
    'pino log level',
  ),
] as const;

function v<K extends string, S extends TSchema>(
  env: string,
  key: K,
  schema: S,
  def: string | undefined,
  doc: string,
) {
  return { env, key, schema, default: def, doc } as const;
}

type Vars = (typeof ConfigVars)[number];
type ValueOf<S> =
  S extends TOptional<infer T> ? Static<T> | undefined : S extends TSchema ? Static<S> : never;

/** The whole configuration as one TypeBox object (optional variables are optional properties). */
export const ConfigSchema = Type.Object(Object.fromEntries(ConfigVars.map((c) => [c.key, c.schema])), {
  additionalProperties: false,
});

export type Config = { readonly [V in Vars as V['key']]: ValueOf<V['schema']> } & {
  /** True when no JWT_SECRET/JWT_PUBLIC_KEY/JWKS_URL was given and a dev secret was generated. */
  readonly devSecret: boolean;
};

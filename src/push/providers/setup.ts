import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../core/config/index.ts';
import type { Logger } from '../../core/observability/index.ts';
import { ApnsProvider } from './apns/index.ts';
import { FcmProvider } from './fcm/index.ts';
import type { Platform, PushProvider } from './types.ts';
import { generateVapidKeys, WebPushProvider } from './webpush/index.ts';

/** What `createProviders` reads of the configuration (SPEC §2). */
export interface ProviderConfig {
  dataDir: string;
  /** Cluster mode (REDIS_URL or DATABASE_URL): nodes share devices, so a generated VAPID pair per node would not do. */
  redisUrl?: string | undefined;
  databaseUrl?: string | undefined;
  apnsKey?: string | undefined;
  apnsKeyId?: string | undefined;
  apnsTeamId?: string | undefined;
  apnsTopic?: string | undefined;
  apnsUrl?: string | undefined;
  fcmServiceAccount?: string | undefined;
  fcmUrl?: string | undefined;
  fcmTokenUrl?: string | undefined;
  vapidPublicKey?: string | undefined;
  vapidPrivateKey?: string | undefined;
  vapidSubject?: string | undefined;
}

export interface Providers {
  byPlatform: Partial<Record<Platform, PushProvider>>;
  /** The VAPID public key browsers subscribe with (`GET /v1/push/vapid-public-key`); undefined when Web Push is off. */
  vapidPublicKey: string | undefined;
  close(): Promise<void>;
}

/** A PEM or JSON given inline, or the path of a file holding it. */
function inlineOrFile(value: string, variable: string, inlineMarker: string): string {
  if (value.includes(inlineMarker)) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (err) {
    throw new ConfigError(
      variable,
      `is neither inline content nor a readable file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/**
 * The VAPID key pair: from VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY, or (embedded default)
 * generated once and kept in `DATA_DIR/vapid.json` (mode 0600), so browsers that
 * subscribed keep working across restarts.
 */
function vapidKeys(cfg: ProviderConfig, logger: Logger): { publicKey: string; privateKey: string } {
  // Both or neither: loadConfig's cross-field rules refuse one without the other.
  if (cfg.vapidPublicKey && cfg.vapidPrivateKey)
    return { publicKey: cfg.vapidPublicKey, privateKey: cfg.vapidPrivateKey };
  const file = join(cfg.dataDir, 'vapid.json');
  if (existsSync(file))
    return JSON.parse(readFileSync(file, 'utf8')) as { publicKey: string; privateKey: string };
  const keys = generateVapidKeys();
  mkdirSync(cfg.dataDir, { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(keys), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  logger.info(
    { file },
    'generated a VAPID key pair for Web Push (set VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY to use your own)',
  );
  return keys;
}

/**
 * The push providers this configuration enables: APNs with APNS_KEY (+ key id, team id,
 * topic), FCM with FCM_SERVICE_ACCOUNT, Web Push always (own or generated VAPID keys).
 * A platform without a provider gets its devices' notifications counted as failed.
 */
export function createProviders(cfg: ProviderConfig, logger: Logger): Providers {
  const byPlatform: Partial<Record<Platform, PushProvider>> = {};
  // APNS_KEY_ID, APNS_TEAM_ID and APNS_TOPIC come with APNS_KEY (loadConfig's cross-field rules).
  if (cfg.apnsKey) {
    byPlatform.ios = new ApnsProvider({
      key: inlineOrFile(cfg.apnsKey, 'APNS_KEY', '-----BEGIN'),
      keyId: cfg.apnsKeyId!,
      teamId: cfg.apnsTeamId!,
      topic: cfg.apnsTopic!,
      ...(cfg.apnsUrl ? { url: cfg.apnsUrl } : {}),
      logger: logger.child({ provider: 'apns' }),
    });
  }
  if (cfg.fcmServiceAccount) {
    let sa: unknown;
    try {
      sa = JSON.parse(inlineOrFile(cfg.fcmServiceAccount, 'FCM_SERVICE_ACCOUNT', '{'));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError('FCM_SERVICE_ACCOUNT', 'is not valid JSON');
    }
    const s = sa as Record<string, unknown>;
    for (const field of ['client_email', 'private_key', 'project_id']) {
      if (typeof s[field] !== 'string') throw new ConfigError('FCM_SERVICE_ACCOUNT', `lacks ${field}`);
    }
    byPlatform.android = new FcmProvider({
      serviceAccount: sa as ConstructorParameters<typeof FcmProvider>[0]['serviceAccount'],
      ...(cfg.fcmUrl ? { url: cfg.fcmUrl } : {}),
      ...(cfg.fcmTokenUrl ? { tokenUrl: cfg.fcmTokenUrl } : {}),
      logger: logger.child({ provider: 'fcm' }),
    });
  }
  // In cluster mode every node must sign with the same pair a browser subscribed with: a
  // pair generated per node would be refused (403) when another node sends. So the pair is
  // generated only for a single node; a cluster without VAPID_* has Web Push off.
  const cluster = Boolean(cfg.redisUrl || cfg.databaseUrl);
  let vapidPublicKey: string | undefined;
  if (cluster && !cfg.vapidPublicKey && !cfg.vapidPrivateKey) {
    logger.warn(
      'Web Push is off: cluster mode needs the same VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY on every node (npx web-push generate-vapid-keys)',
    );
  } else {
    const vapid = vapidKeys(cfg, logger);
    vapidPublicKey = vapid.publicKey;
    byPlatform.web = new WebPushProvider({
      vapid: { ...vapid, subject: cfg.vapidSubject ?? 'mailto:push@backbeat.invalid' },
      logger: logger.child({ provider: 'webpush' }),
    });
  }
  return {
    byPlatform,
    vapidPublicKey,
    async close() {
      await Promise.all(Object.values(byPlatform).map((p) => p.close()));
    },
  };
}

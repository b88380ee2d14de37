/**
 * The three protocol-true local provider servers together (APNs, FCM, Web Push), with
 * the SPEC §2 variables that point a Backbeat node at them. TLS with the private test CA
 * (NODE_EXTRA_CA_CERTS, see `ensure_test_ca`): clients verify certificates as in production.
 */
import { startApnsServer, type ApnsServerOptions, type ApnsTestServer } from './apns-server.ts';
import { startFcmServer, type FcmServer, type FcmServerOptions } from './fcm-server.ts';
import { startWebPushServer, type WebPushServer } from './webpush-server.ts';

export interface ProviderServers {
  apns: ApnsTestServer;
  fcm: FcmServer;
  webpush: WebPushServer;
  /** APNS_*, FCM_* for a node (Web Push needs none: each subscription names its endpoint). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startProviderServers(
  opts: { apns?: ApnsServerOptions; fcm?: FcmServerOptions } = {},
): Promise<ProviderServers> {
  const [apns, fcm, webpush] = await Promise.all([
    startApnsServer(opts.apns),
    startFcmServer(opts.fcm),
    startWebPushServer(),
  ]);
  return {
    apns,
    fcm,
    webpush,
    env: {
      APNS_KEY: apns.key.privateKeyPem,
      APNS_KEY_ID: apns.key.keyId,
      APNS_TEAM_ID: apns.key.teamId,
      APNS_TOPIC: apns.topic,
      APNS_URL: apns.url,
      FCM_SERVICE_ACCOUNT: JSON.stringify(fcm.serviceAccount),
      FCM_URL: fcm.url,
    },
    async close() {
      await Promise.all([apns.close(), fcm.close(), webpush.close()]);
    },
  };
}

/** A 64-hex-digit APNs device token, distinct per `n`. */
export const apnsToken = (n: number): string => n.toString(16).padStart(64, '0');
/** An FCM registration token, distinct per `n`. */
export const fcmToken = (n: number): string => `fcm-token-${n}:APA91b${'x'.repeat(40)}`;

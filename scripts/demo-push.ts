/**
 * The push demo (docs/push.md), run by `bash scripts/demo-push.sh`: the three local
 * provider servers (APNs, FCM, Web Push; TLS with the private test CA), a Backbeat node
 * pointed at them on a fresh DATA_DIR, one iOS, one Android and one Web Push device, a
 * localized template, one notification; then the job's status and what each provider
 * received (APNs headers and payload, the FCM message, the decrypted Web Push JSON).
 * Needs TEST_TLS_DIR and NODE_EXTRA_CA_CERTS in the environment (the .sh sets both).
 */
import { randomBytes } from 'node:crypto';
import { signHs256 } from '../src/core/auth/index.ts';
import { freePort, NodeProcess } from '../test/helpers/processes.ts';
import {
  apnsToken,
  fcmToken,
  startProviderServers,
  type ProviderServers,
} from '../test/helpers/push-servers/index.ts';

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
/** One line per top-level field, each value as compact JSON. */
const show = (value: Record<string, unknown>): void => {
  for (const [k, v] of Object.entries(value)) out(`    ${k}: ${JSON.stringify(v)}`);
};
const step = (title: string): void => out(`\n== ${title}`);

async function main(): Promise<void> {
  if (!process.env['NODE_EXTRA_CA_CERTS'] || !process.env['TEST_TLS_DIR']) {
    throw new Error(
      'run me through scripts/demo-push.sh (it sets NODE_EXTRA_CA_CERTS and TEST_TLS_DIR from ensure_test_ca)',
    );
  }
  let providers: ProviderServers | undefined;
  let node: NodeProcess | undefined;
  try {
    step('local provider servers (TLS, private CA in NODE_EXTRA_CA_CERTS)');
    providers = await startProviderServers();
    out(
      `    APNs      ${providers.apns.url}  (token auth: key ${providers.apns.key.keyId}, team ${providers.apns.key.teamId}, topic ${providers.apns.topic})`,
    );
    out(
      `    FCM       ${providers.fcm.url}  (project ${providers.fcm.projectId}, OAuth2 token endpoint ${providers.fcm.tokenUrl})`,
    );
    out(`    Web Push  ${providers.webpush.origin}`);

    step('a Backbeat node pointed at them (fresh DATA_DIR)');
    const secret = randomBytes(24).toString('hex');
    node = new NodeProcess(await freePort(), { JWT_SECRET: secret, NODE_ID: 'push-demo', ...providers.env });
    await node.start();
    out(`    ${node.url}  DATA_DIR=${node.dataDir}`);
    out(
      `    env: ${Object.keys(providers.env).join(', ')}, JWT_SECRET (VAPID keys generated under DATA_DIR)`,
    );

    const token = await signHs256(secret, { sub: 'demo-service', scope: 'push:send' }, 600);
    const api = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const r = await fetch(`${node!.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await r.text();
      const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      out(
        `    ${method} ${path} → ${r.status}${text ? ` ${text.length > 160 ? `${text.slice(0, 160)}…` : text}` : ''}`,
      );
      if (r.status >= 400) throw new Error(`${method} ${path} answered ${r.status}`);
      return json;
    };

    step('devices: an iPhone (fr-FR), an Android phone (en-US), a browser (en-GB)');
    const { publicKey } = (await api('GET', '/v1/push/vapid-public-key')) as { publicKey: string };
    const subscription = providers.webpush.newSubscription({ applicationServerKey: publicKey });
    await api('POST', '/v1/devices', {
      userId: 'alice',
      platform: 'ios',
      token: apnsToken(1),
      locale: 'fr-FR',
      timezone: 'Europe/Paris',
    });
    await api('POST', '/v1/devices', {
      userId: 'bob',
      platform: 'android',
      token: fcmToken(1),
      locale: 'en-US',
    });
    await api('POST', '/v1/devices', { userId: 'carol', platform: 'web', subscription, locale: 'en-GB' });

    step('a localized template (Liquid placeholders)');
    await api('PUT', '/v1/templates/new-release', {
      defaultLocale: 'en',
      locales: {
        en: { title: 'New from {{ artist }}', body: '{{ album }} is out now' },
        fr: { title: 'Nouveau : {{ artist }}', body: '{{ album }} est disponible' },
      },
    });

    step('one notification');
    const { jobId } = (await api('POST', '/v1/notifications', {
      userIds: ['alice', 'bob', 'carol'],
      template: 'new-release',
      variables: { artist: 'Daft Punk', album: 'Random Access Memories' },
      data: { albumId: 'ram-2013' },
      priority: 'high',
      ttlSeconds: 3600,
      collapseKey: 'release-ram',
    })) as { jobId: string };

    step('the job, once done');
    let status: Record<string, unknown> = {};
    for (let i = 0; i < 300 && status['status'] !== 'done'; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      const r = await fetch(`${node.url}/v1/notifications/${jobId}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      status = (await r.json()) as Record<string, unknown>;
    }
    if (status['status'] !== 'done')
      throw new Error(`job ${jobId} not done after 30 s: ${JSON.stringify(status)}`);
    out(`    GET /v1/notifications/${jobId}`);
    show(status);

    step('what APNs received (HTTP/2 headers and payload)');
    for (const r of providers.apns.requests) {
      out(`    POST /3/device/${r.token}`);
      show({
        headers: Object.fromEntries(Object.entries(r.headers).filter(([k]) => k.startsWith('apns-'))),
        payload: r.payload,
      });
    }
    step('what FCM received (HTTP v1 message)');
    for (const m of providers.fcm.messages) show(m);
    step(
      'what the Web Push service received (headers, then the aes128gcm body decrypted with the browser keys)',
    );
    for (const p of providers.webpush.received) {
      out(`    POST ${p.endpoint}`);
      const h = p.headers;
      show({
        headers: {
          ttl: h['ttl'],
          urgency: h['urgency'],
          topic: h['topic'],
          'content-encoding': h['content-encoding'],
        },
        vapid: { aud: p.vapid.claims['aud'], sub: p.vapid.claims['sub'] },
        decrypted: p.json,
      });
    }
  } catch (err) {
    if (node?.output) process.stderr.write(`--- node output ---\n${node.output.slice(-4000)}\n`);
    throw err;
  } finally {
    step('stopping the node and the provider servers');
    await node?.stop();
    await providers?.close();
    out('    done');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo-push failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

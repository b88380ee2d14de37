/**
 * `npm run bench -- push` (also part of a plain `npm run bench`): the push targets of
 * issue #9, side by side in one run on this machine. Writes bench/results/push.json and
 * bench/results/push.md.
 *
 * 1. 100,000 notifications to 100,000 devices (a third each iOS / Android / web) against
 *    the protocol-true local APNs, FCM and Web Push servers (test/helpers/push-servers,
 *    TLS with the private test CA, every JWT / OAuth token / VAPID signature checked and
 *    every Web Push body decrypted by the servers), three ways:
 *    - backbeat: a real App (devices registered with `store.devices.registerMany`, setup
 *      not timed); timed from `POST /v1/notifications {segment: "all"}` to the job's
 *      status `done`, RSS of the App's process sampled from /proc, and
 *      `GET /v1/notifications/{id}` latency while the job runs (one request at a time);
 *    - clients: the same 100k messages through Backbeat's own provider clients
 *      (`ApnsProvider` / `FcmProvider` / `WebPushProvider` `send`), no store, no runner;
 *    - bare: a bare `node:http2` loop per HTTP/2 server (APNs, FCM) and a keep-alive
 *      `node:https` loop for Web Push (the local push service, like most real ones, speaks
 *      HTTP/1.1), with every request pre-built by the providers' own building blocks
 *      (`buildRequest` + the provider token, `buildFcmBody` + one OAuth access token,
 *      `WebPushProvider.prepare` = VAPID + RFC 8291 encryption). Build and send are timed
 *      apart: build + send is the same work as Backbeat's, send alone the wire's ceiling.
 *    Each server and each sender is its own process (fresh per variant); the 2 cores are
 *    shared by all of them, so the servers' own CPU (ECDSA verification, ECDH decryption)
 *    is in every variant's wall time alike.
 * 2. Web Push CPU per message: `WebPushProvider.prepare` vs `web-push`'s
 *    `generateRequestDetails` (process.cpuUsage over N = 3,000), and encryption alone.
 * 3. Template render: `TemplateEngine.render` of a cached two-field template with
 *    variables (p50/p99 per call), and the runner's per-recipient cost (its render cache hit).
 * 4. Status of the running 100k job (from 1).
 *
 * Roles: this file runs as the orchestrator (no arguments) and as each child process
 * (`--role=server --kind=apns|fcm|webpush`, `--role=backbeat|clients|bare|micro`), all
 * talking over the IPC channel. The test CA comes from `ensure_test_ca` (sourced here when
 * TEST_TLS_DIR / NODE_EXTRA_CA_CERTS are not set). Env:
 * - PUSH_BENCH_N devices (default 100000), PUSH_BENCH_RUNS (default 1: the 100k run is the
 *   slow part), PUSH_BENCH_JOB_TIMEOUT_S (default 120: a slower Backbeat job is reported
 *   unfinished, with its throughput so far);
 * - development: PUSH_BENCH_ONLY=backbeat,clients,bare,micro (those only, nothing
 *   written), PUSH_BENCH_TRACE=1 (print each status poll), PUSH_BENCH_PROF=<dir> (a
 *   --cpu-prof of the Backbeat process), PUSH_BENCH_WHATIF=defer-commit (see backbeatRole),
 *   PUSH_BENCH_APP_ENV='{"PUSH_BATCH_SIZE":"5000"}' (more App configuration).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createECDH } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { App } from '../src/app.ts';
import { signHs256 } from '../src/core/auth/index.ts';
import { loadConfig } from '../src/core/config/index.ts';
import { ApnsProvider } from '../src/push/providers/apns/index.ts';
import { buildRequest, type ApnsRequest } from '../src/push/providers/apns/request.ts';
import { ProviderToken } from '../src/push/providers/apns/token.ts';
import {
  AccessTokenSource,
  buildFcmBody,
  FcmProvider,
  type ServiceAccount,
} from '../src/push/providers/fcm/index.ts';
import type {
  PushMessage,
  PushOutcome,
  PushProvider,
  PushTarget,
  WebPushSubscription,
} from '../src/push/providers/types.ts';
import {
  encryptAes128gcm,
  decodeSubscriptionKeys,
  generateVapidKeys,
  WebPushProvider,
  webPushPayload,
  type PreparedPush,
} from '../src/push/providers/webpush/index.ts';
import { TemplateEngine, type TemplateDefinition } from '../src/push/templates/index.ts';
import { fcmToken } from '../test/helpers/push-servers/index.ts';

const ROOT = join(import.meta.dirname, '..');
const SELF = join(import.meta.dirname, 'push.ts');
const SECRET = 'bench-secret-0123456789abcdef0123456789';
const VAPID_SUBJECT = 'mailto:bench@backbeat.invalid';
const TEMPLATE: TemplateDefinition = {
  name: 'bench-release',
  version: 1,
  defaultLocale: 'en',
  locales: {
    en: { title: 'New from {{ artist }}', body: 'Listen to {{ album }} now' },
    fr: { title: 'Nouveau : {{ artist }}', body: 'Écoutez {{ album }}' },
  },
};
const VARIABLES = { artist: 'Daft Punk', album: 'Discovery' };
/** What the job renders per locale (the bare variants send the same strings). */
const RENDERED = {
  en: { title: 'New from Daft Punk', body: 'Listen to Discovery now' },
  fr: { title: 'Nouveau : Daft Punk', body: 'Écoutez Discovery' },
};
const NOTIFICATION = {
  template: TEMPLATE.name,
  variables: VARIABLES,
  data: { albumId: 'a1' },
  priority: 'high',
  ttlSeconds: 3600,
  collapseKey: 'release-a1',
} as const;
/** Device i: platform i % 3; locale alternates en-US / fr-FR. */
const PLATFORMS = ['ios', 'android', 'web'] as const;
/** A distinct 64-hex-digit APNs token per i (the helpers' `apnsToken` pads with 'b', so 0xb and 0xbb collide). */
const apnsToken = (i: number): string => i.toString(16).padStart(64, '0');
const localeOf = (i: number): 'en' | 'fr' => (i % 2 ? 'fr' : 'en');
/** Deliveries in flight: the runner's (PUSH_BATCH_SIZE 1000 ≤ PUSH_MAX_IN_FLIGHT 2000), split over the three providers for the bare loops. */
const IN_FLIGHT = 1000;
/** A Backbeat job still running after this long is reported as unfinished (throughput so far), keeping the run bounded. */
const JOB_TIMEOUT_MS = Number(process.env['PUSH_BENCH_JOB_TIMEOUT_S'] ?? 120) * 1000;

type Json = Record<string, unknown>;
type Reply = Json & { reply?: string; event?: string; error?: string };

// ---------------------------------------------------------------------------------------
// small helpers
// ---------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const median = (xs: number[]) => {
  const s = xs.filter((x) => typeof x === 'number' && !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}
/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
function tally(xs: Iterable<string | number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[String(x)] = (out[String(x)] ?? 0) + 1;
  return out;
}
/** Runs `n` items through `work` with `concurrency` workers. */
async function pool(n: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

/**
 * This process while work runs: peak of process.memoryUsage() (sampled every 100 ms),
 * heapUsed / RSS before and after (after 3 full GCs; needs --expose-gc): what the work
 * left behind, apart from garbage not yet collected; and the event loop's delay.
 */
function memWatch(): { stop(): Promise<Json> } {
  const mb = (x: number) => round(x / 2 ** 20, 1);
  const peak = { heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0, rss: 0 };
  const sample = () => {
    const u = process.memoryUsage();
    for (const k of Object.keys(peak) as Array<keyof typeof peak>) peak[k] = Math.max(peak[k], u[k]);
  };
  const base = process.memoryUsage();
  sample();
  const timer = setInterval(sample, 100);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  return {
    async stop() {
      clearInterval(timer);
      lag.disable();
      sample();
      const gc = (globalThis as { gc?: () => void }).gc;
      for (let k = 0; k < 3; k++) {
        gc?.();
        await sleep(100);
      }
      const after = process.memoryUsage();
      return {
        peak: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, mb(v)])),
        before: { heapUsed: mb(base.heapUsed), rss: mb(base.rss) },
        afterGc: { heapUsed: mb(after.heapUsed), rss: mb(after.rss) },
        eventLoopDelayMs: {
          p50: round(lag.percentile(50) / 1e6, 1),
          p99: round(lag.percentile(99) / 1e6, 1),
          max: round(lag.max / 1e6, 1),
        },
      };
    },
  };
}

/** Child side of the IPC channel: answers each `{cmd}` with `{reply: cmd, …}`. */
function serve(handlers: Record<string, (m: Json) => Promise<Json> | Json>): void {
  process.on('message', (m: Json) => {
    const cmd = String(m['cmd']);
    void (async () => {
      try {
        const out = await handlers[cmd]!(m);
        process.send!({ reply: cmd, ...out });
      } catch (err) {
        process.send!({ reply: cmd, error: (err as Error).stack ?? String(err) });
      }
    })();
  });
  process.send!({ event: 'up' });
}

interface Child {
  proc: ChildProcess;
  pid: number;
  ask(cmd: string, args?: Json, timeoutMs?: number): Promise<Reply>;
  onEvent(fn: (m: Reply) => void): void;
  kill(): Promise<void>;
}

async function spawnChild(
  args: string[],
  execArgv: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Child> {
  const proc = fork(SELF, args, { cwd: ROOT, execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const listeners: Array<(m: Reply) => void> = [];
  proc.on('message', (m: Reply) => {
    for (const l of listeners) l(m);
  });
  await new Promise<void>((resolve, reject) => {
    const onUp = (m: Reply) => m.event === 'up' && resolve();
    listeners.push(onUp);
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)));
  });
  return {
    proc,
    pid: proc.pid!,
    ask(cmd, extra = {}, timeoutMs = 240_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${args.join(' ')}: ${cmd} timed out`)), timeoutMs);
        const onExit = (code: number | null) =>
          reject(new Error(`${args.join(' ')} exited ${code} during ${cmd}`));
        proc.once('exit', onExit);
        const l = (m: Reply) => {
          if (m.reply !== cmd) return;
          listeners.splice(listeners.indexOf(l), 1);
          clearTimeout(timer);
          proc.off('exit', onExit);
          if (m.error) reject(new Error(`${args.join(' ')} ${cmd}: ${m.error}`));
          else resolve(m);
        };
        listeners.push(l);
        proc.send({ cmd, ...extra });
      });
    },
    onEvent(fn) {
      listeners.push(fn);
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    },
  };
}

/** The 100k targets, identical for every variant: device i → platform i % 3. */
function target(i: number, subs: WebPushSubscription[]): PushTarget {
  const platform = PLATFORMS[i % 3]!;
  if (platform === 'ios') return { platform, token: apnsToken(i) };
  if (platform === 'android') return { platform, token: fcmToken(i) };
  return { platform, subscription: subs[Math.floor(i / 3)]! };
}
function message(i: number): PushMessage {
  const content = RENDERED[localeOf(i)];
  return {
    notificationId: `bench-job.${i + 1}`,
    title: content.title,
    body: content.body,
    data: NOTIFICATION.data,
    priority: NOTIFICATION.priority,
    ttlSeconds: NOTIFICATION.ttlSeconds,
    collapseKey: NOTIFICATION.collapseKey,
  };
}
/** Devices with i % 3 === 2 (web) among the first n. */
const webCount = (n: number) => Math.floor(n / 3);

// ---------------------------------------------------------------------------------------
// role: the local provider servers, one process each
// ---------------------------------------------------------------------------------------

async function serverRole(kind: string): Promise<void> {
  const apnsMod = await import('../test/helpers/push-servers/apns-server.ts');
  const fcmMod = await import('../test/helpers/push-servers/fcm-server.ts');
  const webMod = await import('../test/helpers/push-servers/webpush-server.ts');
  if (kind === 'apns') {
    const apns = await apnsMod.startApnsServer();
    serve({
      info: () => ({
        env: {
          APNS_KEY: apns.key.privateKeyPem,
          APNS_KEY_ID: apns.key.keyId,
          APNS_TEAM_ID: apns.key.teamId,
          APNS_TOPIC: apns.topic,
          APNS_URL: apns.url,
        },
      }),
      stats: () => ({
        accepted: apns.requests.length,
        rejected: tally(apns.rejections.map((r) => `${r.status} ${r.reason}`)),
        sessions: apns.sessions,
        maxActive: apns.maxActive,
      }),
    });
  } else if (kind === 'fcm') {
    const fcm = await fcmMod.startFcmServer();
    serve({
      info: () => ({
        env: { FCM_SERVICE_ACCOUNT: JSON.stringify(fcm.serviceAccount), FCM_URL: fcm.url },
        serviceAccount: fcm.serviceAccount,
        tokenUrl: fcm.tokenUrl,
        projectId: fcm.projectId,
      }),
      stats: () => ({
        accepted: fcm.messages.length,
        statuses: tally(fcm.requests.map((r) => r.status)),
        tokenRequests: fcm.tokenRequests,
        peakConcurrent: fcm.peakConcurrent,
      }),
    });
  } else {
    const web = await webMod.startWebPushServer();
    serve({
      info: () => ({ origin: web.origin }),
      subscribe: (m) => {
        const n = Number(m['n']);
        const subs = Array.from({ length: n }, () =>
          web.newSubscription({ applicationServerKey: String(m['applicationServerKey']) }),
        );
        writeFileSync(String(m['file']), JSON.stringify(subs));
        return { n };
      },
      stats: () => ({ accepted: web.received.length, statuses: tally(web.statuses) }),
    });
  }
}

// ---------------------------------------------------------------------------------------
// role: Backbeat (a real App)
// ---------------------------------------------------------------------------------------

async function backbeatRole(): Promise<void> {
  let app: App | undefined;
  let dataDir = '';
  let mem: ReturnType<typeof memWatch> | undefined;
  serve({
    setup: async (m) => {
      const env = m['env'] as Record<string, string>;
      dataDir = mkdtempSync(join(tmpdir(), 'bb-bench-push-'));
      // PUSH_BENCH_APP_ENV (development): more SPEC §2 variables for the App, as JSON, e.g. {"PUSH_BATCH_SIZE":"5000"}.
      const extra = JSON.parse(process.env['PUSH_BENCH_APP_ENV'] ?? '{}') as Record<string, string>;
      app = await new App(
        loadConfig({
          HOST: '127.0.0.1',
          PORT: '0',
          DATA_DIR: dataDir,
          JWT_SECRET: SECRET,
          LOG_LEVEL: 'warn',
          DRAIN_MS: '0',
          ...env,
          ...extra,
        }),
      ).start();
      const store = app.store!;
      if (process.env['PUSH_BENCH_WHATIF'] === 'defer-commit') {
        // What-if (off by default, not Backbeat's code): each outcome commit waits one
        // event-loop turn (setImmediate), so the OutcomeWriter's queue fills with every
        // outcome that arrived in that turn before the synchronous fsync blocks the loop.
        const jobs = store.jobs;
        const record = jobs.recordOutcomes.bind(jobs);
        jobs.recordOutcomes = async (outcomes) => {
          await new Promise((res) => setImmediate(res));
          return record(outcomes);
        };
      }
      const n = Number(m['n']);
      const subs = JSON.parse(readFileSync(String(m['subsFile']), 'utf8')) as WebPushSubscription[];
      const started = performance.now();
      for (let from = 0; from < n; from += 5000) {
        const regs = [];
        for (let i = from; i < Math.min(n, from + 5000); i++) {
          const t = target(i, subs);
          regs.push({
            userId: `u${i}`,
            locale: localeOf(i) === 'fr' ? 'fr-FR' : 'en-US',
            ...(t.platform === 'web'
              ? { platform: t.platform, subscription: t.subscription }
              : { platform: t.platform, token: t.token }),
          });
        }
        await store.devices.registerMany(regs);
      }
      const registerMs = performance.now() - started;
      await app.push!.putTemplate(TEMPLATE.name, {
        defaultLocale: TEMPLATE.defaultLocale,
        locales: TEMPLATE.locales,
      });
      const gc = (globalThis as { gc?: () => void }).gc;
      for (let k = 0; k < 3; k++) {
        gc?.();
        await sleep(100);
      }
      const token = await signHs256(SECRET, { sub: 'bench', scope: 'push:send' }, 3600);
      return {
        url: app.url,
        token,
        registerMs: Math.round(registerMs),
        devices: await store.devices.count(),
      };
    },
    'mem-start': () => {
      mem = memWatch();
      return {};
    },
    'mem-stop': async () => (await mem?.stop()) ?? {},
    exit: async () => {
      await app?.close({ drain: false });
      rmSync(dataDir, { recursive: true, force: true });
      setImmediate(() => process.exit(0));
      return {};
    },
  });
}

// ---------------------------------------------------------------------------------------
// role: Backbeat's provider clients alone
// ---------------------------------------------------------------------------------------

async function clientsRole(): Promise<void> {
  serve({
    run: async (m) => {
      const env = m['env'] as Record<string, string>;
      const n = Number(m['n']);
      const subs = JSON.parse(readFileSync(String(m['subsFile']), 'utf8')) as WebPushSubscription[];
      // As createProviders builds them (src/push/providers/setup.ts), defaults included.
      const providers: Record<string, PushProvider> = {
        ios: new ApnsProvider({
          key: env['APNS_KEY']!,
          keyId: env['APNS_KEY_ID']!,
          teamId: env['APNS_TEAM_ID']!,
          topic: env['APNS_TOPIC']!,
          url: env['APNS_URL']!,
        }),
        android: new FcmProvider({
          serviceAccount: JSON.parse(env['FCM_SERVICE_ACCOUNT']!) as ServiceAccount,
          url: env['FCM_URL']!,
        }),
        web: new WebPushProvider({
          vapid: {
            publicKey: env['VAPID_PUBLIC_KEY']!,
            privateKey: env['VAPID_PRIVATE_KEY']!,
            subject: VAPID_SUBJECT,
          },
        }),
      };
      const outcomes: string[] = [];
      process.send!({ event: 'measuring' });
      const mem = memWatch();
      const started = performance.now();
      // One loop per provider, IN_FLIGHT split evenly (each client applies its own stream / socket limit).
      await Promise.all(
        PLATFORMS.map((platform, p) => {
          const mine: number[] = [];
          for (let i = p; i < n; i += 3) mine.push(i);
          return pool(mine.length, Math.ceil(IN_FLIGHT / 3), async (k) => {
            const i = mine[k]!;
            const o: PushOutcome = await providers[platform]!.send(target(i, subs), message(i));
            outcomes.push(
              o.kind === 'delivered' ? 'delivered' : `${o.kind}: ${'reason' in o ? o.reason : ''}`,
            );
          });
        }),
      );
      const wallMs = performance.now() - started;
      process.send!({ event: 'measured' });
      const memoryMB = await mem.stop();
      await Promise.all(Object.values(providers).map((p) => p.close()));
      return { wallMs, outcomes: tally(outcomes), memoryMB };
    },
  });
}

// ---------------------------------------------------------------------------------------
// role: bare node:http2 / node:https loops with pre-built requests
// ---------------------------------------------------------------------------------------

function h2Session(url: string): Promise<ClientHttp2Session> {
  const session = connect(url, { settings: { enablePush: false } });
  session.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    session.once('remoteSettings', () => resolve(session));
    session.once('error', reject);
  });
}
function h2Post(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body: Buffer | string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ...headers }, { endStream: false });
    let status = 0;
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', () => undefined);
    stream.on('error', reject);
    stream.on('close', () => resolve(status));
    stream.end(body);
  });
}
function httpsPost(agent: Agent, p: PreparedPush): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(p.url, { method: 'POST', agent, headers: p.headers }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(p.body);
  });
}

async function bareRole(): Promise<void> {
  serve({
    run: async (m) => {
      const env = m['env'] as Record<string, string>;
      const n = Number(m['n']);
      const subs = JSON.parse(readFileSync(String(m['subsFile']), 'utf8')) as WebPushSubscription[];
      const ids = (p: number) => {
        const out: number[] = [];
        for (let i = p; i < n; i += 3) out.push(i);
        return out;
      };
      const [iosIds, androidIds, webIds] = [ids(0), ids(1), ids(2)];
      process.send!({ event: 'measuring' });
      const mem = memWatch();
      // ---- build (the providers' own building blocks), timed per provider
      let t = performance.now();
      const providerToken = new ProviderToken({
        key: env['APNS_KEY']!,
        keyId: env['APNS_KEY_ID']!,
        teamId: env['APNS_TEAM_ID']!,
        clock: { now: Date.now },
      });
      const jwt = providerToken.current();
      const apnsReqs: ApnsRequest[] = iosIds.map((i) =>
        buildRequest(apnsToken(i), message(i), env['APNS_TOPIC']!, Date.now()),
      );
      const apnsBuildMs = performance.now() - t;
      t = performance.now();
      const sa = JSON.parse(env['FCM_SERVICE_ACCOUNT']!) as ServiceAccount;
      const access = await new AccessTokenSource({ serviceAccount: sa, requestTimeoutMs: 10_000 }).get();
      const fcmPath = `/v1/projects/${encodeURIComponent(sa.project_id)}/messages:send`;
      const fcmBodies = androidIds.map((i) => JSON.stringify(buildFcmBody(fcmToken(i), message(i))));
      const fcmBuildMs = performance.now() - t;
      t = performance.now();
      const wp = new WebPushProvider({
        vapid: {
          publicKey: env['VAPID_PUBLIC_KEY']!,
          privateKey: env['VAPID_PRIVATE_KEY']!,
          subject: VAPID_SUBJECT,
        },
      });
      const webReqs = webIds.map((i) => wp.prepare(subs[Math.floor(i / 3)]!, message(i)) as PreparedPush);
      const webBuildMs = performance.now() - t;
      const buildMs = apnsBuildMs + fcmBuildMs + webBuildMs;
      await wp.close();

      // ---- send: one HTTP/2 session per HTTP/2 server, 64 keep-alive sockets for Web Push
      const apns = await h2Session(env['APNS_URL']!);
      const fcm = await h2Session(env['FCM_URL']!);
      const agent = new Agent({ keepAlive: true, maxSockets: 64, scheduling: 'lifo' });
      const statuses: string[] = [];
      const apnsHeaders = (r: ApnsRequest) => ({
        ':path': r.path,
        authorization: `bearer ${jwt}`,
        ...r.headers,
      });
      t = performance.now();
      const phase = { apns: 0, fcm: 0, web: 0 };
      await Promise.all([
        (async () => {
          // APNs: one stream until the token is accepted, then the announced limit (500).
          statuses.push(`apns ${await h2Post(apns, apnsHeaders(apnsReqs[0]!), apnsReqs[0]!.body)}`);
          if ((apns.remoteSettings.maxConcurrentStreams ?? 1) <= 1)
            await Promise.race([once(apns, 'remoteSettings'), sleep(1000)]);
          const limit = Math.min(Math.ceil(IN_FLIGHT / 3), apns.remoteSettings.maxConcurrentStreams ?? 1);
          await pool(apnsReqs.length - 1, limit, async (k) => {
            const r = apnsReqs[k + 1]!;
            statuses.push(`apns ${await h2Post(apns, apnsHeaders(r), r.body)}`);
          });
          phase.apns = performance.now() - t;
        })(),
        (async () => {
          const limit = Math.min(Math.ceil(IN_FLIGHT / 3), fcm.remoteSettings.maxConcurrentStreams ?? 100);
          const headers = {
            ':path': fcmPath,
            authorization: `Bearer ${access}`,
            'content-type': 'application/json; charset=UTF-8',
          };
          await pool(fcmBodies.length, limit, async (k) => {
            statuses.push(`fcm ${await h2Post(fcm, headers, fcmBodies[k]!)}`);
          });
          phase.fcm = performance.now() - t;
        })(),
        (async () => {
          await pool(webReqs.length, 64, async (k) => {
            statuses.push(`web ${await httpsPost(agent, webReqs[k]!)}`);
          });
          phase.web = performance.now() - t;
        })(),
      ]);
      const sendMs = performance.now() - t;
      process.send!({ event: 'measured' });
      const memoryMB = await mem.stop();
      apns.close();
      fcm.close();
      agent.destroy();
      return {
        buildMs,
        apnsBuildMs,
        fcmBuildMs,
        webBuildMs,
        sendMs,
        apnsSendMs: phase.apns,
        fcmSendMs: phase.fcm,
        webSendMs: phase.web,
        statuses: tally(statuses),
        memoryMB,
      };
    },
  });
}

// ---------------------------------------------------------------------------------------
// role: micro benchmarks (Web Push CPU, template render)
// ---------------------------------------------------------------------------------------

interface WebPushLib {
  generateRequestDetails(
    sub: WebPushSubscription,
    payload: string,
    opts: Record<string, unknown>,
  ): { body: Buffer; headers: Record<string, unknown> };
  encrypt(p256dh: string, auth: string, payload: string, contentEncoding: string): { cipherText: Buffer };
}

function cpuUsPer(n: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(300, n); i++) fn(i); // warm-up
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) fn(i);
  const d = process.cpuUsage(before);
  return round((d.user + d.system) / n, 1);
}

function microRole(): void {
  serve({
    run: (m) => {
      const N = Number(m['n'] ?? 3000);
      // ---- Web Push: one subscription (as a browser makes it), the bench's message
      const ua = createECDH('prime256v1');
      const sub: WebPushSubscription = {
        endpoint: 'https://push.example.net/push/abc',
        keys: {
          p256dh: ua.generateKeys().toString('base64url'),
          auth: Buffer.from('0123456789abcdef').toString('base64url'),
        },
      };
      const vapid = generateVapidKeys();
      const ours = new WebPushProvider({ vapid: { ...vapid, subject: VAPID_SUBJECT } });
      const msg = message(0);
      const webPush = createRequire(import.meta.url)('web-push') as WebPushLib;
      const payload = webPushPayload(msg).toString('utf8');
      const libOpts = {
        vapidDetails: { subject: VAPID_SUBJECT, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
        TTL: 3600,
        contentEncoding: 'aes128gcm',
        urgency: 'high',
        topic: 'release-a1',
      };
      const keys = decodeSubscriptionKeys(sub.keys);
      const webpushPrepareUs = cpuUsPer(N, () => ours.prepare(sub, msg));
      const webpushLibUs = cpuUsPer(N, () => webPush.generateRequestDetails(sub, payload, libOpts));
      const encryptUs = cpuUsPer(N, () => encryptAes128gcm(Buffer.from(payload), keys));
      const libEncryptUs = cpuUsPer(N, () =>
        webPush.encrypt(sub.keys.p256dh, sub.keys.auth, payload, 'aes128gcm'),
      );
      void ours.close();

      // ---- Template render: a cached two-field template with variables
      const engine = new TemplateEngine();
      const R = 20_000;
      for (let i = 0; i < 2000; i++) engine.render(TEMPLATE, i % 2 ? 'fr-FR' : 'en-US', VARIABLES);
      const times: number[] = new Array<number>(R);
      for (let i = 0; i < R; i++) {
        const s = process.hrtime.bigint();
        engine.render(TEMPLATE, i % 2 ? 'fr-FR' : 'en-US', VARIABLES);
        times[i] = Number(process.hrtime.bigint() - s) / 1000;
      }
      times.sort((a, b) => a - b);
      // The runner's per-recipient path (JobRunner#render, src/push/jobs/runner.ts): a Map
      // keyed by (job, template, locale); `render` runs once per key. Same code, timed here
      // because #render is private.
      const rendered = new Map<string, { title: string; body: string }>();
      const runnerRender = (jobId: string, templateName: string, locale: string | null) => {
        const key = `${jobId}\u0000${templateName}\u0000${locale ?? ''}`;
        let out = rendered.get(key);
        if (!out) {
          const r = engine.render(TEMPLATE, locale, VARIABLES);
          out = { title: r.title, body: r.body };
          rendered.set(key, out);
        }
        return out;
      };
      const hits: number[] = new Array<number>(R);
      for (let i = 0; i < 2000; i++) runnerRender('job-1', TEMPLATE.name, i % 2 ? 'fr-FR' : 'en-US');
      for (let i = 0; i < R; i++) {
        const s = process.hrtime.bigint();
        runnerRender('job-1', TEMPLATE.name, i % 2 ? 'fr-FR' : 'en-US');
        hits[i] = Number(process.hrtime.bigint() - s) / 1000;
      }
      hits.sort((a, b) => a - b);
      const stats = engine.stats();
      return {
        webpushPrepareUs,
        webpushLibUs,
        webpushEncryptUs: encryptUs,
        webpushLibEncryptUs: libEncryptUs,
        renderP50us: round(pct(times, 50)),
        renderP99us: round(pct(times, 99)),
        renderP999us: round(pct(times, 99.9)),
        runnerRenderHitP50us: round(pct(hits, 50), 3),
        runnerRenderHitP99us: round(pct(hits, 99), 3),
        templateParses: stats.parses,
      };
    },
  });
}

// ---------------------------------------------------------------------------------------
// orchestrator
// ---------------------------------------------------------------------------------------

interface Servers {
  children: Child[];
  env: Record<string, string>;
  subsFile: string;
  stats(): Promise<Record<string, Reply>>;
  close(): Promise<void>;
}

async function startServers(n: number, vapidPublicKey: string, dir: string, tag: string): Promise<Servers> {
  const [apns, fcm, web] = await Promise.all(
    ['apns', 'fcm', 'webpush'].map((k) => spawnChild(['--role=server', `--kind=${k}`])),
  );
  const env = {
    ...((await apns!.ask('info'))['env'] as Record<string, string>),
    ...((await fcm!.ask('info'))['env'] as Record<string, string>),
  };
  const subsFile = join(dir, `subs-${tag}.json`);
  await web!.ask('subscribe', { n: webCount(n), applicationServerKey: vapidPublicKey, file: subsFile });
  const children = [apns!, fcm!, web!];
  return {
    children,
    env,
    subsFile,
    async stats() {
      const [a, f, w] = await Promise.all(children.map((c) => c.ask('stats')));
      return { apns: a!, fcm: f!, webpush: w! };
    },
    async close() {
      await Promise.all(children.map((c) => c.kill()));
    },
  };
}

const serversCpu = (s: Servers) => s.children.reduce((sum, c) => sum + cpuSeconds(c.pid), 0);
const strip = (r: Reply) => {
  const { reply: _r, event: _e, ...rest } = r;
  return rest;
};

/** Samples a process's RSS (VmRSS) every 50 ms until stopped; returns the peak. */
function rssSampler(pid: number): { stop(): number } {
  let peak = rssKiB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssKiB(pid));
    } catch {
      // the process is gone
    }
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      try {
        peak = Math.max(peak, rssKiB(pid));
      } catch {
        // gone
      }
      return peak;
    },
  };
}

async function runBackbeat(
  n: number,
  vapid: { publicKey: string; privateKey: string },
  dir: string,
): Promise<Json> {
  const servers = await startServers(n, vapid.publicKey, dir, 'backbeat');
  const prof = process.env['PUSH_BENCH_PROF'];
  const bb = await spawnChild(
    ['--role=backbeat'],
    ['--expose-gc', ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [])],
  );
  try {
    const env = {
      ...servers.env,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT,
    };
    const setup = await bb.ask('setup', { env, n, subsFile: servers.subsFile });
    const url = String(setup['url']);
    const auth = { authorization: `Bearer ${String(setup['token'])}` };
    const baseKiB = rssKiB(bb.pid);
    const cpu0 = cpuSeconds(bb.pid);
    const scpu0 = serversCpu(servers);
    await bb.ask('mem-start');
    const sampler = rssSampler(bb.pid);
    const t0 = performance.now();
    const post = await fetch(`${url}/v1/notifications`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ segment: 'all', ...NOTIFICATION }),
    });
    const postMs = performance.now() - t0;
    const created = (await post.json()) as Json;
    if (post.status !== 202)
      throw new Error(`POST /v1/notifications answered ${post.status}: ${JSON.stringify(created)}`);
    const jobId = String(created['jobId']);
    // Status while the job runs: one GET at a time, 20 ms apart.
    const statusMs: number[] = [];
    /** [ms since the POST, delivered, GET latency ms] per poll. */
    const progress: Array<[number, number, number]> = [];
    let status: Json = {};
    const deadline = t0 + JOB_TIMEOUT_MS;
    for (;;) {
      const s = performance.now();
      const r = await fetch(`${url}/v1/notifications/${jobId}`, { headers: auth });
      status = (await r.json()) as Json;
      const ms = performance.now() - s;
      progress.push([Math.round(performance.now() - t0), Number(status['delivered']), Math.round(ms)]);
      if (process.env['PUSH_BENCH_TRACE'])
        console.log(
          `trace t=${Math.round(performance.now() - t0)} delivered=${String(status['delivered'])} pending=${String(status['pending'])} getMs=${Math.round(ms)}`,
        );
      if (status['status'] === 'done' || status['status'] === 'failed') break;
      statusMs.push(ms);
      if (performance.now() > deadline) break;
      await sleep(20);
    }
    const jobMs = performance.now() - t0;
    const peakKiB = sampler.stop();
    const memoryMB = strip(await bb.ask('mem-stop'));
    const cpuS = cpuSeconds(bb.pid) - cpu0;
    const serversCpuS = serversCpu(servers) - scpu0;
    const endKiB = rssKiB(bb.pid);
    const server = await servers.stats();
    statusMs.sort((a, b) => a - b);
    // The runner's own view: store transactions for outcomes (group commit) and provider send time.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const metric = (name: string) =>
      [...metrics.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))].reduce(
        (sum, m) => sum + Number(m[1]),
        0,
      );
    const outcomeCommits = metric('backbeat_push_outcome_batch_size_count');
    /** Delivery attempts by provider and outcome: anything but `delivered` is a retry or a failure. */
    const attempts = Object.fromEntries(
      [...metrics.matchAll(/^backbeat_push_deliveries_total\{([^}]*)\} ([0-9.e+-]+)$/gm)].map((m) => [
        m[1]!.replace(/"/g, ''),
        Number(m[2]),
      ]),
    );
    // A clean exit, so that --cpu-prof (PUSH_BENCH_PROF) writes its profile.
    const exited = once(bb.proc, 'exit');
    await bb.ask('exit').catch(() => undefined);
    await Promise.race([exited, sleep(10_000)]);
    return {
      done: status['status'] === 'done',
      jobMs: Math.round(jobMs),
      postMs: Math.round(postMs),
      notificationsPerSec: Math.round((Number(status['delivered']) / jobMs) * 1000),
      rssGrowthMB: round((peakKiB - baseKiB) / 1024, 1),
      rssBaseMB: round(baseKiB / 1024, 1),
      rssEndGrowthMB: round((endKiB - baseKiB) / 1024, 1),
      memoryMB,
      cpuS: round(cpuS, 1),
      serversCpuS: round(serversCpuS, 1),
      statusP50ms: round(pct(statusMs, 50)),
      statusP99ms: round(pct(statusMs, 99)),
      statusMaxMs: round(statusMs.at(-1) ?? NaN),
      statusSamples: statusMs.length,
      progress,
      attempts,
      outcomeCommits,
      outcomesPerCommit: round(metric('backbeat_push_outcome_batch_size_sum') / outcomeCommits, 1),
      sendMeanMs: round(
        (metric('backbeat_push_send_duration_seconds_sum') /
          metric('backbeat_push_send_duration_seconds_count')) *
          1000,
        1,
      ),
      registerMs: Number(setup['registerMs']),
      devices: Number(setup['devices']),
      status: {
        status: status['status'],
        total: status['total'],
        delivered: status['delivered'],
        failed: status['failed'],
        skipped: status['skipped'],
        pending: status['pending'],
        byPlatform: status['byPlatform'],
      },
      servers: Object.fromEntries(Object.entries(server).map(([k, v]) => [k, strip(v)])),
    };
  } finally {
    await bb.kill();
    await servers.close();
  }
}

async function runSender(
  role: 'clients' | 'bare',
  n: number,
  vapid: { publicKey: string; privateKey: string },
  dir: string,
): Promise<Json> {
  const servers = await startServers(n, vapid.publicKey, dir, role);
  const child = await spawnChild([`--role=${role}`], ['--expose-gc']);
  try {
    let base = 0;
    let cpu0 = 0;
    let scpu0 = 0;
    let sampler: { stop(): number } | undefined;
    let peak = 0;
    let cpuS = 0;
    let serversCpuS = 0;
    child.onEvent((m) => {
      if (m.event === 'measuring') {
        base = rssKiB(child.pid);
        cpu0 = cpuSeconds(child.pid);
        scpu0 = serversCpu(servers);
        sampler = rssSampler(child.pid);
      } else if (m.event === 'measured') {
        peak = sampler?.stop() ?? 0;
        cpuS = cpuSeconds(child.pid) - cpu0;
        serversCpuS = serversCpu(servers) - scpu0;
      }
    });
    const env = { ...servers.env, VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey };
    const r = strip(await child.ask('run', { env, n, subsFile: servers.subsFile }));
    const server = await servers.stats();
    return {
      ...r,
      rssGrowthMB: round((peak - base) / 1024, 1),
      cpuS: round(cpuS, 1),
      serversCpuS: round(serversCpuS, 1),
      servers: Object.fromEntries(Object.entries(server).map(([k, v]) => [k, strip(v)])),
    };
  } finally {
    await child.kill();
    await servers.close();
  }
}

/** TEST_TLS_DIR and NODE_EXTRA_CA_CERTS from `ensure_test_ca` when the shell did not export them. */
function ensureTestCa(): void {
  if (process.env['TEST_TLS_DIR'] && process.env['NODE_EXTRA_CA_CERTS']) return;
  const out = execFileSync(
    'bash',
    [
      '-c',
      'source scripts/lib/ensure.sh && ensure_test_ca && printf "%s\\n%s\\n" "$TEST_TLS_DIR" "$NODE_EXTRA_CA_CERTS"',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const [tls, ca] = out.trim().split('\n');
  process.env['TEST_TLS_DIR'] = tls;
  process.env['NODE_EXTRA_CA_CERTS'] = ca;
}

async function orchestrate(): Promise<void> {
  ensureTestCa();
  const N = Number(process.env['PUSH_BENCH_N'] ?? 100_000);
  const RUNS = Number(process.env['PUSH_BENCH_RUNS'] ?? 1);
  /** PUSH_BENCH_ONLY=backbeat,micro (development): run only these variants; results are not written. */
  const ONLY = process.env['PUSH_BENCH_ONLY']?.split(',');
  const dir = mkdtempSync(join(tmpdir(), 'bb-bench-push-'));
  const vapid = generateVapidKeys();
  const started = performance.now();
  const runs: Array<{ backbeat: Json; clients: Json; bare: Json; micro: Json }> = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const skip = (v: string) => ONLY !== undefined && !ONLY.includes(v);
      let m: Json = {};
      if (!skip('micro')) {
        const micro = await spawnChild(['--role=micro']);
        m = { ...strip(await micro.ask('run', { n: 3000 })), loadAvg1: round(loadavg()[0]!, 1) };
        await micro.kill();
        console.log(`push micro       ${JSON.stringify(m)}`);
      }
      /** The machine's 1-minute load average before and after a variant (other work on the cores skews it). */
      const withLoad = async (f: () => Promise<Json>): Promise<Json> => {
        const before = round(loadavg()[0]!, 1);
        const out = await f();
        return { ...out, loadAvg1: [before, round(loadavg()[0]!, 1)] };
      };
      const backbeat = skip('backbeat') ? { status: {} } : await withLoad(() => runBackbeat(N, vapid, dir));
      console.log(`push backbeat    ${JSON.stringify({ ...backbeat, progress: undefined })}`);
      const clients = skip('clients')
        ? { outcomes: {} }
        : await withLoad(() => runSender('clients', N, vapid, dir));
      console.log(`push clients     ${JSON.stringify(clients)}`);
      const bare = skip('bare') ? { statuses: {} } : await withLoad(() => runSender('bare', N, vapid, dir));
      console.log(`push bare        ${JSON.stringify(bare)}`);
      runs.push({ backbeat, clients, bare, micro: m });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const totalS = Math.round((performance.now() - started) / 1000);
  if (ONLY) return;

  // ---- figures: medians over runs
  const med = (f: (x: (typeof runs)[number]) => unknown) => round(median(runs.map((x) => Number(f(x)))), 2);
  const delivered = (x: (typeof runs)[number]) => Number((x.backbeat['status'] as Json)['delivered']);
  const clientsDelivered = (x: (typeof runs)[number]) =>
    (x.clients['outcomes'] as Record<string, number>)['delivered'] ?? 0;
  const bareOk = (x: (typeof runs)[number]) =>
    Object.entries(x.bare['statuses'] as Record<string, number>)
      .filter(([k]) => /^(apns 200|fcm 200|web 201)$/.test(k))
      .reduce((s, [, v]) => s + v, 0);
  const perSec = (count: number, ms: number) => (count / ms) * 1000;
  const bbRate = med((x) => perSec(delivered(x), Number(x.backbeat['jobMs'])));
  const clientsRate = med((x) => perSec(clientsDelivered(x), Number(x.clients['wallMs'])));
  const bareRate = med((x) => perSec(bareOk(x), Number(x.bare['buildMs']) + Number(x.bare['sendMs'])));
  const bareSendRate = med((x) => perSec(bareOk(x), Number(x.bare['sendMs'])));
  const bbDone = runs.every((x) => x.backbeat['done'] === true);
  const bbWall = med((x) => x.backbeat['jobMs']);
  const heapLeft = (r: Json) => {
    const m = r['memoryMB'] as { before?: Json; afterGc?: Json } | undefined;
    return round(Number(m?.afterGc?.['heapUsed']) - Number(m?.before?.['heapUsed']), 1);
  };
  const loopDelay = (r: Json, k: string) =>
    ((r['memoryMB'] as { eventLoopDelayMs?: Json } | undefined)?.eventLoopDelayMs ?? {})[k];
  const load = (f: (x: (typeof runs)[number]) => unknown) =>
    runs.map((x) => JSON.stringify(f(x) ?? '—')).join(', ');
  const rssGrowth = med((x) => x.backbeat['rssGrowthMB']);
  const statusP50 = med((x) => x.backbeat['statusP50ms']);
  const statusP99 = med((x) => x.backbeat['statusP99ms']);
  const prepareUs = med((x) => x.micro['webpushPrepareUs']);
  const renderP99 = med((x) => x.micro['renderP99us']);
  const hitP99 = med((x) => x.micro['runnerRenderHitP99us']);
  const figures: Array<{
    metric: string;
    value: number | string;
    target: string;
    ok?: boolean;
    what: string;
  }> = [
    {
      what: 'backbeat',
      metric: 'wall time, POST → `done` (ms)',
      value: bbDone ? Math.round(bbWall) : `> ${Math.round(bbWall).toLocaleString('en')} (unfinished)`,
      target: '< 15,000 ms',
      ok: bbDone && bbWall < 15_000,
    },
    { what: 'backbeat', metric: 'notifications/s', value: Math.round(bbRate), target: '' },
    {
      what: 'backbeat',
      metric: 'delivered',
      value: `${med(delivered).toLocaleString('en')} / ${N.toLocaleString('en')}`,
      target: `all`,
      ok: runs.every((x) => delivered(x) === N),
    },
    {
      what: 'backbeat',
      metric: `POST → 202 (ms; audience read, ${N.toLocaleString('en')} recipient rows stored)`,
      value: Math.round(med((x) => x.backbeat['postMs'])),
      target: '',
    },
    {
      what: 'backbeat',
      metric: 'RSS growth, peak during the job (MB)',
      value: rssGrowth,
      target: '< 150 MB',
      ok: rssGrowth < 150,
    },
    {
      what: 'backbeat',
      metric: 'heap left after the job and a full GC (MB)',
      value: med((x) => heapLeft(x.backbeat)),
      target: '',
    },
    {
      what: 'backbeat',
      metric: 'GET status while running, p50 (ms)',
      value: statusP50,
      target: '< 50 ms',
      ok: statusP50 < 50,
    },
    {
      what: 'backbeat',
      metric: 'GET status while running, p99 (ms)',
      value: statusP99,
      target: '< 50 ms',
      ok: statusP99 < 50,
    },
    {
      what: 'backbeat',
      metric: 'event-loop delay during the job, p99 / max (ms)',
      value: `${med((x) => loopDelay(x.backbeat, 'p99'))} / ${med((x) => loopDelay(x.backbeat, 'max'))}`,
      target: '',
    },
    {
      what: 'backbeat',
      metric: 'outcomes per store commit (OutcomeWriter group commit)',
      value: med((x) => x.backbeat['outcomesPerCommit']),
      target: '',
    },
    {
      what: 'backbeat',
      metric: 'CPU s: Backbeat process / the 3 provider servers',
      value: `${med((x) => x.backbeat['cpuS'])} / ${med((x) => x.backbeat['serversCpuS'])}`,
      target: '',
    },
    {
      what: 'clients',
      metric: 'wall time (ms)',
      value: Math.round(med((x) => x.clients['wallMs'])),
      target: '',
    },
    { what: 'clients', metric: 'notifications/s', value: Math.round(clientsRate), target: '' },
    {
      what: 'clients',
      metric: 'delivered',
      value: `${med(clientsDelivered).toLocaleString('en')} / ${N.toLocaleString('en')}`,
      target: `all`,
      ok: runs.every((x) => clientsDelivered(x) === N),
    },
    {
      what: 'clients',
      metric: 'RSS growth, peak (MB)',
      value: med((x) => x.clients['rssGrowthMB']),
      target: '',
    },
    {
      what: 'bare',
      metric: 'build + send (ms)',
      value: `${Math.round(med((x) => x.bare['buildMs'])).toLocaleString('en')} + ${Math.round(med((x) => x.bare['sendMs'])).toLocaleString('en')}`,
      target: '',
    },
    {
      what: 'bare',
      metric: 'notifications/s, build + send (same work as Backbeat)',
      value: Math.round(bareRate),
      target: '',
    },
    {
      what: 'bare',
      metric: 'notifications/s, send only (pre-built: the wire ceiling)',
      value: Math.round(bareSendRate),
      target: '',
    },
    {
      what: 'bare',
      metric: 'delivered',
      value: `${med(bareOk).toLocaleString('en')} / ${N.toLocaleString('en')}`,
      target: `all`,
      ok: runs.every((x) => bareOk(x) === N),
    },
    {
      what: 'ratio',
      metric: 'Backbeat / bare (build + send)',
      value: round(bbRate / bareRate),
      target: '≥ 0.8',
      ok: bbRate / bareRate >= 0.8,
    },
    {
      what: 'ratio',
      metric: 'Backbeat / bare provider clients',
      value: round(bbRate / clientsRate),
      target: '≥ 0.8',
      ok: bbRate / clientsRate >= 0.8,
    },
    { what: 'ratio', metric: 'Backbeat / bare send only', value: round(bbRate / bareSendRate), target: '' },
    {
      what: 'webpush',
      metric: 'ours: WebPushProvider.prepare (VAPID header cached + RFC 8291 encryption) µs',
      value: prepareUs,
      target: '≤ 200 µs',
      ok: prepareUs <= 200,
    },
    {
      what: 'webpush',
      metric: 'web-push: generateRequestDetails (signs VAPID per call + encryption) µs',
      value: med((x) => x.micro['webpushLibUs']),
      target: '',
    },
    {
      what: 'webpush',
      metric: 'encryption alone µs: ours / web-push',
      value: `${med((x) => x.micro['webpushEncryptUs'])} / ${med((x) => x.micro['webpushLibEncryptUs'])}`,
      target: '',
    },
    {
      what: 'template',
      metric: 'TemplateEngine.render (liquidjs, compiled template cached) p50 µs',
      value: med((x) => x.micro['renderP50us']),
      target: '',
    },
    {
      what: 'template',
      metric: 'TemplateEngine.render (liquidjs, compiled template cached) p99 µs',
      value: renderP99,
      target: '< 20 µs',
      ok: renderP99 < 20,
    },
    {
      what: 'template',
      metric: 'per recipient as the runner renders (its render cache hit) p99 µs',
      value: hitP99,
      target: '< 20 µs',
      ok: hitP99 < 20,
    },
    {
      what: 'load',
      metric: '1-min load average before → after: micro; backbeat; clients; bare',
      value: `${load((x) => x.micro['loadAvg1'])}; ${load((x) => x.backbeat['loadAvg1'])}; ${load((x) => x.clients['loadAvg1'])}; ${load((x) => x.bare['loadAvg1'])}`,
      target: 'quiet: ≲ 2',
      ok: runs.every((x) =>
        [x.backbeat, x.clients, x.bare].every((v) =>
          ((v['loadAvg1'] as number[] | undefined) ?? []).every((l) => l <= 2.5),
        ),
      ),
    },
  ];

  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
    runs: RUNS,
    devices: N,
    totalS,
  };
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(
    join(ROOT, 'bench/results/push.json'),
    JSON.stringify({ machine, figures, runs }, null, 2) + '\n',
  );
  const LEGEND: Record<string, string> = {
    backbeat: `a real App: ${N.toLocaleString('en')} devices (⅓ each iOS / Android / web, registered with \`store.devices.registerMany\`, not timed), one \`POST /v1/notifications {segment: "all", template, variables, data, priority, ttlSeconds, collapseKey}\` → the job's status \`done\``,
    clients:
      'the same messages through Backbeat’s provider clients alone (`ApnsProvider` / `FcmProvider` / `WebPushProvider` `send`, as `createProviders` builds them), no store, no runner',
    bare: 'a bare `node:http2` loop per HTTP/2 server (APNs: one session, provider token; FCM: one session, one OAuth access token) and a keep-alive `node:https` loop for Web Push (the local push service speaks HTTP/1.1, as most do), every request pre-built with the providers’ own building blocks (`buildRequest`, `buildFcmBody`, `WebPushProvider.prepare`); build and send timed apart',
    ratio: 'throughput ratios, notifications/s',
    webpush: 'Web Push CPU per message, process.cpuUsage over N = 3,000, same subscription and payload',
    template: 'template render, 20,000 timed calls of a two-field template with variables, two locales',
    load: 'the machine while each part ran: other work on the 2 cores slows each part, not necessarily alike',
  };
  const fmt = (v: number | string) => (typeof v === 'number' ? v.toLocaleString('en') : v);
  const lines = [
    '# Push benchmark results',
    '',
    `Generated by \`npm run bench -- push\` on ${machine.date.slice(0, 10)}: ${machine.cpus} cores (${String(machine.cpuModel)}), ${machine.memGiB} GiB, Node ${machine.node}; ${RUNS === 1 ? 'one run' : `median of ${RUNS} runs`} (${totalS} s in all). Each provider server (test/helpers/push-servers: TLS with the test CA, every provider token / OAuth token / VAPID JWT verified, every Web Push body decrypted) and each sender is its own process, fresh per variant, all on the same cores: the servers' CPU is in every variant's wall time alike. Concurrency: Backbeat's runner has up to 1,000 deliveries in flight (PUSH_BATCH_SIZE 1000); the clients variant runs 334 per provider; the bare loops 334 APNs streams, FCM streams up to the server's limit (100), 64 Web Push sockets (= the Web Push client's pool).`,
    '',
    ...Object.entries(LEGEND).map(([k, v]) => `- **${k}**: ${v}`),
    '',
    '| part | metric | value | target | met |',
    '|---|---|---|---|---|',
    ...figures.map(
      (f) =>
        `| ${f.what} | ${f.metric} | ${fmt(f.value)} | ${f.target} | ${f.ok === undefined ? '' : f.ok ? 'yes' : '**no**'} |`,
    ),
    '',
    `Raw data (per run: progress over time, delivery attempts by outcome, server-side counts, memory, CPU): push.json. Backbeat's wall time is from the POST to the first status poll that says \`done\` (polls one at a time, 20 ms apart; their latency is the status p50/p99); a job not done after ${JOB_TIMEOUT_MS / 1000} s is reported unfinished, with its throughput so far. RSS growth is the peak VmRSS of the process during the job minus its RSS after setup and a full GC; "heap left" is heapUsed after the job and 3 full GCs minus heapUsed before it (what the job retained, as opposed to garbage not yet collected). CPU s are user + system seconds from /proc during the job.`,
    '',
  ];
  writeFileSync(join(ROOT, 'bench/results/push.md'), lines.join('\n'));

  const w = Math.max(...figures.map((f) => `${f.what} ${f.metric}`.length));
  console.log('');
  for (const f of figures)
    console.log(
      `${`${f.what} ${f.metric}`.padEnd(w)}  ${String(fmt(f.value)).padStart(16)}  ${f.target.padEnd(12)} ${f.ok === undefined ? '' : f.ok ? 'ok' : 'MISSED'}`,
    );
  console.log(`wrote bench/results/push.json and bench/results/push.md (${totalS} s)`);
}

// ---------------------------------------------------------------------------------------

const role = process.argv.find((a) => a.startsWith('--role='))?.slice('--role='.length);
const kind = process.argv.find((a) => a.startsWith('--kind='))?.slice('--kind='.length) ?? '';
switch (role) {
  case 'server':
    await serverRole(kind);
    break;
  case 'backbeat':
    await backbeatRole();
    break;
  case 'clients':
    await clientsRole();
    break;
  case 'bare':
    await bareRole();
    break;
  case 'micro':
    microRole();
    break;
  default:
    await orchestrate();
    process.exit(0);
}

/**
 * Process entry: environment → config → app. A bad configuration prints one line naming
 * the variable and exits 2; a dependency that refuses at start prints one line naming the
 * part and the cause and exits 1. SIGINT/SIGTERM drain clients (1001) and close in order.
 */
import { flushCompileCache } from 'node:module';
import { startApp } from './app.ts';
import { signHs256 } from './core/auth/index.ts';
import { StartupError } from './core/lifecycle/index.ts';
import { ConfigError, loadConfig, type Config } from './core/config/index.ts';
import { releaseStartupMemory } from './core/modules/index.ts';

// Every module is loaded by now (the static imports above). With NODE_COMPILE_CACHE set (as
// scripts/start.sh sets it), Node holds each module's cache entry in memory until a flush:
// ~6 MiB of malloc'd buffers interleaved with what loading keeps. Flushing here (writing
// what changed, then dropping the entries) frees them before start-up allocates the rest,
// which reuses the space: ~2.3 MiB less idle RSS than one flush once started (see
// docs/operations.md, "Memory"). Modules loaded later are written by the flush below.
flushCompileCache();

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    for (const p of err.problems)
      process.stderr.write(`backbeat: configuration error: ${p.variable}: ${p.problem}\n`);
    process.exit(2);
  }
  throw err;
}

let app;
try {
  app = await startApp(config);
} catch (err) {
  // A dependency or the machine refused (the configuration itself was valid): one line
  // naming the part, the setting that points at it and the real cause; exit 1.
  if (err instanceof StartupError) {
    // Port taken or host not on this machine: the setting to change, exit 2 like a bad value.
    if (err.code === 'EADDRINUSE') {
      process.stderr.write(`backbeat: PORT: ${config.host}:${config.port} is already in use\n`);
      process.exit(2);
    }
    if (err.code === 'EADDRNOTAVAIL') {
      process.stderr.write(`backbeat: HOST: cannot bind ${config.host} on this machine\n`);
      process.exit(2);
    }
    process.stderr.write(`backbeat: cannot start: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const url = app.url;
const wsUrl = url.replace(/^http/, 'ws') + '/ws';
const lines = [
  '',
  `  Backbeat ${app.state} on ${url}  (node ${config.nodeId}, engines: ${app.engines.kind})`,
  `  WebSocket   ${wsUrl}   (protocol backbeat.v1, see docs/protocol.md)`,
  `  API docs    ${url}/docs    metrics ${url}/metrics`,
  `  Event log   ${app.streaming.logKind === 'kafka' ? `Kafka ${(config.kafkaBrokers ?? []).join(',')} topic ${config.kafkaTopic}` : `embedded SQLite in ${config.dataDir}/streaming`}`,
  `  Store       ${config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded SQLite ${config.dataDir}/store.db`}`,
  `  Push        ${['ios', 'android', 'web'].map((p) => `${p} ${app.push?.hasProvider(p as 'ios') ? 'on' : 'off'}`).join(', ')}  (APNS_*, FCM_SERVICE_ACCOUNT, VAPID_*; see docs/push.md)`,
];
if (config.devSecret) {
  const token = await signHs256(
    config.jwtSecret!,
    { sub: 'demo', channels: ['*'], publish: ['*'], scope: 'admin' },
    24 * 3600,
  );
  lines.push(
    '',
    '  No JWT_SECRET set: using a development secret (loopback only). Demo token, valid 24 h:',
    '',
    `  ${token}`,
    '',
    '  Try it:',
    `    export TOKEN=${token}`,
    `    curl -s -X POST ${url}/v1/publish -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
    `         -d '{"channel":"chat:lobby","data":{"text":"hello"}}'`,
    `    curl -s -X POST ${url}/v1/events -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
    `         -d '[{"type":"track.played","userId":"demo","ts":${Date.now()},"data":{"trackId":"t1","artistId":"a1","durationMs":200000,"playedMs":190000}}]'`,
    `    npx wscat -c ${wsUrl}   then send {"id":1,"type":"connect","token":"<token>"}`,
    `    open the live dashboard: ${url}/dashboard#token=${token}`,
  );
}
process.stdout.write(lines.join('\n') + '\n\n');

// Started: write the modules compiled since the first flush to the compile cache, so the
// next start skips TypeScript stripping and most compilation even if this process is
// killed; then give start-up's transient memory back (idle RSS).
flushCompileCache();
releaseStartupMemory();

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) {
      process.stderr.write('backbeat: second signal, exiting now\n');
      process.exit(1);
    }
    stopping = true;
    const deadline = setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 2000);
    deadline.unref();
    app
      .close()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        process.stderr.write(`backbeat: shutdown error: ${String(err)}\n`);
        process.exit(1);
      });
  });
}

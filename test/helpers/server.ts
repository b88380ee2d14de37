/**
 * Starts a real Backbeat app on 127.0.0.1, port 0, with its own DATA_DIR, for tests.
 * Every suite talks to it over real sockets. Extend `env` to set any SPEC §2 variable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type AppDeps } from '../../src/app.ts';
import { signHs256, type TokenClaims } from '../../src/core/auth/index.ts';
import { loadConfig } from '../../src/core/config/index.ts';

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789';

export interface TestServer {
  app: App;
  url: string;
  wsUrl: string;
  /** Signs an HS256 token with the server's secret. Default claims: sub + channels/publish `*`. */
  token(claims?: Partial<TokenClaims>, ttlSeconds?: number): Promise<string>;
  close(): Promise<void>;
}

export async function startTestServer(
  env: Record<string, string> = {},
  deps: AppDeps = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'backbeat-test-'));
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    DRAIN_MS: '0',
    ...env,
  });
  const app = await new App(config, deps).start();
  const url = app.url;
  return {
    app,
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/ws',
    token: (claims = {}, ttl = 3600) =>
      signHs256(
        config.jwtSecret ?? TEST_SECRET,
        { sub: 'alice', channels: ['*'], publish: ['*'], ...claims },
        ttl,
      ),
    async close() {
      await app.close({ drain: false });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The published SDK artifact (dist/backbeat-client.js, built by `npm run build:client`) works as shipped. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const ROOT = join(import.meta.dirname, '../..');

describe('SDK bundle', () => {
  let srv: TestServer;
  beforeAll(async () => {
    execFileSync(
      join(ROOT, 'node_modules/.bin/esbuild'),
      [
        'src/client/index.ts',
        '--bundle',
        '--format=esm',
        '--platform=neutral',
        '--target=es2022',
        '--outfile=dist/backbeat-client.js',
      ],
      { cwd: ROOT },
    );
    srv = await startTestServer();
  });
  afterAll(async () => srv?.close());

  it('imports with no Node-only dependencies and round-trips a publication', async () => {
    const mod = (await import(
      pathToFileURL(join(ROOT, 'dist/backbeat-client.js')).href
    )) as typeof import('../../src/client/index.ts');
    const client = new mod.BackbeatClient(srv.wsUrl, { token: await srv.token({ sub: 'bundle' }) });
    const got: unknown[] = [];
    const sub = client.subscribe('chat:bundle');
    sub.on('publication', (p) => got.push(p.data));
    await client.connect();
    await until(() => sub.state === 'subscribed', 'subscribed', 10_000);
    await sub.publish('from the bundle');
    await until(() => got.length === 1, 'delivered', 10_000);
    expect(got).toEqual(['from the bundle']);
    client.close();
  });
});

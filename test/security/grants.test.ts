/** Channel grants, service scopes, and secrets kept out of logs. */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/observability/index.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => srv.close());

describe('channel grants', () => {
  it('channels globs decide subscribe/presence/history; publish globs decide publish, independently', async () => {
    const c = await RawClient.connect(
      srv.wsUrl,
      await srv.token({ sub: 'fan', channels: ['chat:*', 'live:show-?'], publish: ['chat:mine'] }),
    );
    expect(await c.request({ type: 'subscribe', channel: 'chat:a' })).toMatchObject({ type: 'subscribed' });
    expect(await c.request({ type: 'subscribe', channel: 'chat:a:b' })).toMatchObject({ type: 'subscribed' });
    expect(await c.request({ type: 'subscribe', channel: 'live:show-1' })).toMatchObject({
      type: 'subscribed',
    });
    expect(await c.request({ type: 'subscribe', channel: 'live:show-12' })).toMatchObject({ code: 4003 });
    expect(await c.request({ type: 'subscribe', channel: 'news:a' })).toMatchObject({ code: 4003 });
    expect(await c.request({ type: 'publish', channel: 'chat:a', data: 1 })).toMatchObject({ code: 4003 });
    expect(await c.request({ type: 'publish', channel: 'chat:mine', data: 1 })).toMatchObject({
      type: 'published',
    });
    await c.close();
  });

  it('a token without grants can only use its own inbox', async () => {
    const c = await RawClient.connect(
      srv.wsUrl,
      await srv.token({ sub: 'bare', channels: undefined, publish: undefined }),
    );
    expect(await c.request({ type: 'subscribe', channel: 'user:bare' })).toMatchObject({
      type: 'subscribed',
    });
    expect(await c.request({ type: 'subscribe', channel: 'chat:a' })).toMatchObject({ code: 4003 });
    expect(await c.request({ type: 'publish', channel: 'user:bare', data: 1 })).toMatchObject({ code: 4003 });
    await c.close();
  });

  it('a user cannot reach another user inbox even with a glob that looks close', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'ann', channels: ['user:ann*'] }));
    expect(await c.request({ type: 'subscribe', channel: 'user:anna' })).toMatchObject({
      type: 'subscribed',
    }); // granted by the glob itself
    const d = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'ann2', channels: [] }));
    expect(await d.request({ type: 'subscribe', channel: 'user:ann' })).toMatchObject({ code: 4003 });
    await Promise.all([c.close(), d.close()]);
  });
});

describe('service scopes', () => {
  const call = async (scope: string | undefined, path: string, method = 'GET', body?: unknown) =>
    (
      await fetch(srv.url + path, {
        method,
        headers: {
          authorization: `Bearer ${await srv.token({ sub: 'svc', ...(scope === undefined ? {} : { scope }) })}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      })
    ).status;

  it('publish routes need publish (or admin); admin routes need admin', async () => {
    expect(await call(undefined, '/v1/channels/chat:a/history')).toBe(403);
    expect(await call('analytics:read push:send', '/v1/channels/chat:a/history')).toBe(403);
    expect(await call('publish', '/v1/channels/chat:a/history')).toBe(200);
    expect(await call('admin', '/v1/channels/chat:a/history')).toBe(200);
    expect(await call('publish', '/v1/admin/nodes')).toBe(403);
    expect(await call('publish', '/v1/users/x/disconnect', 'POST', {})).toBe(403);
    expect(await call('admin', '/v1/admin/nodes')).toBe(200);
    expect(await call('publishers', '/v1/publish', 'POST', { channel: 'chat:a', data: 1 })).toBe(403); // no prefix matching
  });
});

describe('logs', () => {
  it('tokens, Authorization headers and secrets are redacted', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger('info', sink);
    log.info(
      {
        token: 'eyJ.secret.token',
        cmd: { token: 'eyJ.cmd.token' },
        req: { headers: { authorization: 'Bearer eyJ.hdr' } },
        jwtSecret: 'S3CRET',
      },
      'x',
    );
    const out = lines.join('');
    for (const s of ['eyJ.secret.token', 'eyJ.cmd.token', 'eyJ.hdr', 'S3CRET']) expect(out).not.toContain(s);
    expect(out).toContain('[redacted]');
  });
});

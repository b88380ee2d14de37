import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('smoke: connect, subscribe, publish, receive', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => srv.close());

  it('delivers a publication to a subscriber', async () => {
    const a = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'a' }));
    const sub = await a.request({ type: 'subscribe', channel: 'chat:x' });
    expect(sub).toMatchObject({
      type: 'subscribed',
      channel: 'chat:x',
      offset: 0,
      recovered: false,
      publications: [],
    });
    const pub = await a.request({ type: 'publish', channel: 'chat:x', data: { n: 1 } });
    expect(pub).toMatchObject({ type: 'published', channel: 'chat:x', offset: 1 });
    const msg = await a.waitFor((f) => f.type === 'message');
    expect(msg).toEqual({
      type: 'message',
      channel: 'chat:x',
      offset: 1,
      data: { n: 1 },
      info: { user: 'a', client: expect.any(String) },
    });
    await a.close();
  });
});

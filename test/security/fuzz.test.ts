/**
 * Fuzzing (fast-check): the command parser never throws and classifies every input; a
 * live socket fed random frames answers every command exactly once and stays usable;
 * HTTP bodies and queries get 400 (or 200 when valid), never 500.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_TYPES, parseCommand } from '../../src/gateway/index.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const validCommand = fc.oneof(
  fc.record({ type: fc.constant('ping') }),
  fc.record({
    type: fc.constant('subscribe'),
    channel: fc.constantFrom('chat:a', 'chat:b', 'news:x'),
    presence: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('publish'),
    channel: fc.constantFrom('chat:a', 'chat:b'),
    data: fc.jsonValue({ maxDepth: 3 }),
  }),
  fc.record({
    type: fc.constant('history'),
    channel: fc.constant('chat:a'),
    limit: fc.integer({ min: 0, max: 50 }),
  }),
  fc.record({ type: fc.constant('presence'), channel: fc.constant('chat:a') }),
  fc.record({ type: fc.constant('unsubscribe'), channel: fc.constantFrom('chat:a', 'chat:b') }),
);

/** Mutates one field of a valid command to an arbitrary JSON value. */
const mutated = fc
  .tuple(
    validCommand,
    fc.constantFrom('type', 'channel', 'data', 'limit', 'presence', 'recover', 'since'),
    fc.jsonValue({ maxDepth: 2 }),
  )
  .map(([cmd, field, value]) => ({ ...cmd, [field]: value }));

describe('parseCommand', () => {
  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = parseCommand(s);
        return r.ok || typeof r.message === 'string';
      }),
      { numRuns: 2000 },
    );
  });

  it('on arbitrary JSON: ok only for known types with well-formed fields; errors carry the id when usable', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          mutated.map((m) => ({ id: 1, ...m })),
        ),
        (v) => {
          const r = parseCommand(JSON.stringify(v));
          if (r.ok) {
            expect(COMMAND_TYPES).toContain(r.cmd.type);
            expect(Number.isSafeInteger(r.cmd.id) && r.cmd.id > 0).toBe(true);
          } else if (r.id !== undefined) {
            expect((v as { id: unknown }).id).toBe(r.id);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('live socket fuzzing', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ RATE_LIMIT_COMMANDS: '100000', MAX_MESSAGE_BYTES: '4096' });
  });
  afterAll(async () => srv.close());

  it('every frame with a usable id gets exactly one reply; the connection stays usable', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(validCommand, mutated, fc.jsonValue({ maxDepth: 2 })), {
          minLength: 1,
          maxLength: 30,
        }),
        async (frames) => {
          const c = await RawClient.connect(
            srv.wsUrl,
            await srv.token({ sub: 'fuzz', channels: ['chat:*'], publish: ['chat:*'] }),
          );
          const ids: number[] = [];
          let id = 100;
          for (const f of frames) {
            if (typeof f === 'object' && f !== null && !Array.isArray(f) && 'type' in f) {
              const cmd = { ...f, id: ++id };
              ids.push(id);
              c.send(cmd);
            } else {
              c.sendRaw(JSON.stringify(f));
            }
          }
          const ping = await c.request({ id: 99_999, type: 'ping' });
          expect(ping).toMatchObject({ type: 'pong' });
          for (const i of ids) await c.waitFor((f) => f.id === i, 5000, `reply to #${i}`);
          for (const i of ids) expect(c.frames.filter((f) => f.id === i)).toHaveLength(1);
          for (const e of c.ofType('error')) expect([4003, 4400]).toContain(e['code']);
          await c.close();
        },
      ),
      { numRuns: 40 },
    );
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
  });
});

describe('HTTP fuzzing', () => {
  let srv: TestServer;
  let token: string;
  beforeAll(async () => {
    srv = await startTestServer();
    token = await srv.token({ sub: 'svc', scope: 'admin' });
  });
  afterAll(async () => srv.close());

  it('POST /v1/publish: arbitrary bodies get 200 or 400, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
          fc
            .record({ channel: fc.string({ maxLength: 40 }), data: fc.jsonValue({ maxDepth: 2 }) })
            .map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 100 }),
        ),
        async (body) => {
          const r = await fetch(`${srv.url}/v1/publish`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body,
          });
          expect([200, 400]).toContain(r.status);
          const j = (await r.json()) as { error?: { code: string; message: string } };
          if (r.status === 400) expect(j.error?.code).toBe('bad_request');
        },
      ),
      { numRuns: 150 },
    );
  });

  it('history queries: arbitrary since/epoch/limit get 200 or 400, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('since', 'epoch', 'limit', 'x'), fc.string({ maxLength: 12 })),
        async (q) => {
          const r = await fetch(`${srv.url}/v1/channels/chat:f/history?${new URLSearchParams(q)}`, {
            headers: { authorization: `Bearer ${token}` },
          });
          expect([200, 400]).toContain(r.status);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('POST /v1/events: arbitrary bodies and events get 202 (each event accepted or rejected by index) or 400, never 5xx', async () => {
    const event = fc.record(
      {
        id: fc.oneof(fc.uuid(), fc.string({ maxLength: 20 })),
        type: fc.constantFrom(
          'track.played',
          'track.liked',
          'track.skipped',
          'playlist.track_added',
          'app.opened',
          'x',
        ),
        v: fc.oneof(fc.constant(1), fc.integer({ min: -2, max: 3 })),
        userId: fc.oneof(fc.constant('fz'), fc.string({ maxLength: 20 })),
        ts: fc.oneof(fc.constant(Date.now()), fc.integer(), fc.string({ maxLength: 30 })),
        data: fc.oneof(
          fc.record({
            trackId: fc.string({ maxLength: 5 }),
            artistId: fc.string({ maxLength: 5 }),
            durationMs: fc.integer(),
            playedMs: fc.integer(),
          }),
          fc.jsonValue({ maxDepth: 2 }),
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.array(event, { minLength: 1, maxLength: 10 }).map((v) => JSON.stringify(v)),
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 100 }),
        ),
        fc.boolean(),
        async (body, ndjson) => {
          const r = await fetch(`${srv.url}/v1/events`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': ndjson ? 'application/x-ndjson' : 'application/json',
            },
            body,
          });
          expect([202, 400]).toContain(r.status);
          const j = (await r.json()) as {
            accepted?: number;
            rejected?: Array<{ index: number; error: string }>;
            error?: { code: string };
          };
          if (r.status === 400) expect(j.error?.code).toBe('bad_request');
          else for (const x of j.rejected ?? []) expect(x.error.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('recommendations, listening, dead letters: arbitrary ids and queries get 200/400/404, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 30 }),
        fc.dictionary(fc.constantFrom('limit', 'after', 'handler'), fc.string({ maxLength: 12 })),
        async (id, q) => {
          const qs = new URLSearchParams(q);
          for (const path of [
            `/v1/users/${encodeURIComponent(id)}/recommendations?${qs}`,
            `/v1/users/${encodeURIComponent(id)}/listening`,
            `/v1/events/dlq?${qs}`,
          ]) {
            const r = await fetch(`${srv.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
            expect([200, 400, 404]).toContain(r.status);
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});

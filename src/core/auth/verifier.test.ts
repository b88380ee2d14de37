import { describe, expect, it } from 'vitest';
import { signHs256, type TokenClaims } from './tokens.ts';
import { TokenVerifier } from './verifier.ts';

const SECRET = 'unit-secret-0123456789abcdef0123456789';
const verifier = new TokenVerifier({ secret: SECRET, now: () => Date.now() });
const principal = async (claims: TokenClaims) => verifier.verify(await signHs256(SECRET, claims, 60));

describe('system: channels and the analytics:read scope', () => {
  it('analytics:read may subscribe to (and read history/presence of) system: channels without a channels claim', async () => {
    const p = await principal({ sub: 'ops', scope: 'analytics:read' });
    for (const ch of ['system:overview', 'system:metrics', 'system:trending', 'system:alerts', 'system:a:b'])
      expect(p.canSubscribe(ch), ch).toBe(true);
    // Only the system namespace: not other channels, not a look-alike prefix.
    for (const ch of ['chat:lobby', 'systemx:overview', 'sys:overview', 'user:someone'])
      expect(p.canSubscribe(ch), ch).toBe(false);
    expect(p.canSubscribe('user:ops')).toBe(true);
  });

  it('admin implies it; other scopes and no scope do not grant system:', async () => {
    expect((await principal({ sub: 'root', scope: 'admin' })).canSubscribe('system:overview')).toBe(true);
    for (const scope of [undefined, 'publish', 'events:write push:send gdpr', 'analytics']) {
      const p = await principal({ sub: 'u1', ...(scope ? { scope } : {}) });
      expect(p.canSubscribe('system:overview'), String(scope)).toBe(false);
    }
  });

  it('a channels glob still grants system: as before', async () => {
    expect(
      (await principal({ sub: 'u2', channels: ['system:metrics'] })).canSubscribe('system:metrics'),
    ).toBe(true);
    expect((await principal({ sub: 'u2', channels: ['system:metrics'] })).canSubscribe('system:alerts')).toBe(
      false,
    );
  });

  it('publishing to system: stays governed by the publish claim alone', async () => {
    const reader = await principal({ sub: 'ops', scope: 'analytics:read admin' });
    expect(reader.canPublish('system:overview')).toBe(false);
    const writer = await principal({ sub: 'svc', publish: ['system:*'] });
    expect(writer.canPublish('system:alerts')).toBe(true);
  });
});

import { importJWK, jwtVerify, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/time/index.ts';
import { generateVapidKeys, VapidSigner } from './vapid.ts';

const SUBJECT = 'mailto:ops@backbeat.example';

function parse(header: string): { t: string; k: string } {
  const m = /^vapid t=([^,]+), k=(.+)$/.exec(header);
  if (!m) throw new Error(`not a vapid header: ${header}`);
  return { t: m[1]!, k: m[2]! };
}

async function verify(t: string, k: string, origin: string) {
  const raw = Buffer.from(k, 'base64url');
  const key = await importJWK(
    {
      kty: 'EC',
      crv: 'P-256',
      x: raw.subarray(1, 33).toString('base64url'),
      y: raw.subarray(33).toString('base64url'),
    },
    'ES256',
  );
  return jwtVerify(t, key, { audience: origin, algorithms: ['ES256'], currentDate: new Date(0) });
}

describe('generateVapidKeys', () => {
  it('gives a 65-byte uncompressed public key and a 32-byte private key, base64url', () => {
    for (let i = 0; i < 20; i++) {
      const { publicKey, privateKey } = generateVapidKeys();
      expect(Buffer.from(publicKey, 'base64url')).toHaveLength(65);
      expect(Buffer.from(publicKey, 'base64url')[0]).toBe(4);
      expect(Buffer.from(privateKey, 'base64url')).toHaveLength(32);
      expect(() => new VapidSigner({ publicKey, privateKey, subject: SUBJECT })).not.toThrow();
    }
  });
});

describe('VapidSigner', () => {
  it('signs an ES256 JWT {aud, exp, sub} that verifies with k (jose as the oracle)', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const keys = generateVapidKeys();
    const signer = new VapidSigner({ ...keys, subject: SUBJECT, clock });
    const { t, k } = parse(signer.authorization('https://push.example.net'));
    expect(k).toBe(keys.publicKey);
    expect(decodeProtectedHeader(t)).toEqual({ typ: 'JWT', alg: 'ES256' });
    const { payload } = await verify(t, k, 'https://push.example.net');
    expect(payload).toEqual({
      aud: 'https://push.example.net',
      sub: SUBJECT,
      exp: clock.now() / 1000 + 12 * 3600,
    });
    await expect(verify(t, generateVapidKeys().publicKey, 'https://push.example.net')).rejects.toThrow();
  });

  it('caches the header per origin and re-signs only near expiry', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const signer = new VapidSigner({ ...generateVapidKeys(), subject: SUBJECT, clock });
    const a1 = signer.authorization('https://a.example');
    const b1 = signer.authorization('https://b.example');
    expect(b1).not.toBe(a1);
    clock.tick(9 * 3600_000 - 1); // renewed once 3/4 of the 12 h lifetime is gone
    expect(signer.authorization('https://a.example')).toBe(a1);
    expect(signer.signed).toBe(2);
    clock.tick(1);
    const a2 = signer.authorization('https://a.example');
    expect(a2).not.toBe(a1);
    expect(signer.signed).toBe(3);
  });

  it('refuses bad configuration', () => {
    const keys = generateVapidKeys();
    expect(() => new VapidSigner({ ...keys, subject: 'ops@backbeat.example' })).toThrow(/subject/);
    expect(
      () => new VapidSigner({ ...keys, privateKey: generateVapidKeys().privateKey, subject: SUBJECT }),
    ).toThrow(/match/);
    expect(
      () => new VapidSigner({ ...keys, publicKey: keys.publicKey.slice(0, 20), subject: SUBJECT }),
    ).toThrow(/65 bytes/);
    expect(() => new VapidSigner({ ...keys, subject: SUBJECT, tokenTtlSeconds: 25 * 3600 })).toThrow(/24 h/);
  });
});

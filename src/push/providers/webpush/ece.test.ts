import { createECDH, createHmac, randomBytes, type ECDH } from 'node:crypto';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSubscriptionKeys,
  encryptAes128gcm,
  hmacSha256,
  MAX_PLAINTEXT_BYTES,
  RECORD_SIZE,
} from './ece.ts';

// http_ece (dev-only oracle, CommonJS without types): the RFC 8188 reference implementation.
const ece = createRequire(import.meta.url)('http_ece') as {
  decrypt(body: Buffer, params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: string }): Buffer;
};

function userAgent() {
  const ecdh = createECDH('prime256v1');
  const publicKey = ecdh.generateKeys();
  const auth = randomBytes(16);
  return {
    ecdh,
    auth,
    keys: decodeSubscriptionKeys({
      p256dh: publicKey.toString('base64url'),
      auth: auth.toString('base64url'),
    }),
  };
}

describe('hmacSha256', () => {
  it('equals createHmac for keys up to one block and any message split', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 5 }),
        (key, parts) => {
          const expected = createHmac('sha256', key);
          for (const p of parts) expected.update(p);
          expect(
            hmacSha256(Buffer.from(key), ...parts.map((p) => Buffer.from(p))).equals(expected.digest()),
          ).toBe(true);
        },
      ),
    );
    expect(() => hmacSha256(Buffer.alloc(65))).toThrow(RangeError);
  });
});

describe('encryptAes128gcm (RFC 8291)', () => {
  it('writes the RFC 8188 header: salt(16) ‖ rs=4096 ‖ idlen=65 ‖ keyid = a fresh uncompressed P-256 key', () => {
    const ua = userAgent();
    const plaintext = Buffer.from('{"title":"hi"}');
    const a = encryptAes128gcm(plaintext, ua.keys);
    const b = encryptAes128gcm(plaintext, ua.keys);
    expect(a.length).toBe(86 + plaintext.length + 1 + 16);
    expect(a.readUInt32BE(16)).toBe(RECORD_SIZE);
    expect(a[20]).toBe(65);
    expect(a[21]).toBe(0x04);
    expect(a.subarray(0, 16).equals(b.subarray(0, 16))).toBe(false); // fresh salt
    expect(a.subarray(21, 86).equals(b.subarray(21, 86))).toBe(false); // fresh key pair
    expect(
      ece.decrypt(a, {
        version: 'aes128gcm',
        privateKey: ua.ecdh,
        authSecret: ua.auth.toString('base64url'),
      }),
    ).toEqual(plaintext);
  });

  it('fills exactly one 4096-byte record at the 3993-byte limit, and refuses one byte more', () => {
    const ua = userAgent();
    const max = Buffer.alloc(MAX_PLAINTEXT_BYTES, 0x61);
    const body = encryptAes128gcm(max, ua.keys);
    expect(MAX_PLAINTEXT_BYTES).toBe(3993);
    expect(body.length).toBe(4096);
    expect(
      ece.decrypt(body, {
        version: 'aes128gcm',
        privateKey: ua.ecdh,
        authSecret: ua.auth.toString('base64url'),
      }),
    ).toEqual(max);
    expect(() => encryptAes128gcm(Buffer.alloc(MAX_PLAINTEXT_BYTES + 1), ua.keys)).toThrow(RangeError);
  });

  it('cannot be decrypted with another subscription’s auth secret', () => {
    const ua = userAgent();
    const body = encryptAes128gcm(Buffer.from('secret'), ua.keys);
    expect(() =>
      ece.decrypt(body, {
        version: 'aes128gcm',
        privateKey: ua.ecdh,
        authSecret: randomBytes(16).toString('base64url'),
      }),
    ).toThrow();
  });
});

describe('decodeSubscriptionKeys', () => {
  it('refuses keys that are not a 65-byte uncompressed point or a short auth secret', () => {
    const { keys } = userAgent();
    const p256dh = keys.uaPublic.toString('base64url');
    expect(() =>
      decodeSubscriptionKeys({ p256dh: p256dh.slice(0, 40), auth: 'AAAAAAAAAAAAAAAAAAAAAA' }),
    ).toThrow(/p256dh/);
    const compressed = Buffer.concat([
      Buffer.from([2]),
      keys.uaPublic.subarray(1, 33),
      Buffer.alloc(32),
    ]).toString('base64url');
    expect(() => decodeSubscriptionKeys({ p256dh: compressed, auth: 'AAAAAAAAAAAAAAAAAAAAAA' })).toThrow(
      /p256dh/,
    );
    expect(() => decodeSubscriptionKeys({ p256dh, auth: 'AAAA' })).toThrow(/auth/);
  });
});

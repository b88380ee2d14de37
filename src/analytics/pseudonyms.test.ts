import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { truncateIp } from './ip.ts';
import { epochOf, KeyRing, KEYS_FILE, PseudonymKey, PseudonymVault } from './pseudonyms.ts';

const logger = pino({ level: 'silent' });
const dir = () => mkdtempSync(join(tmpdir(), 'backbeat-analytics-keys-'));

describe('pseudonyms', () => {
  it('are HMAC-SHA256(key, userId), 128 bits base64url, with 64 bits as hi:lo', () => {
    const raw = Buffer.alloc(32, 7);
    const key = new PseudonymKey(raw);
    for (const userId of ['u1', 'alice@example.com', 'x'.repeat(128), 'ünï', 'y'.repeat(400)]) {
      const mac = createHmac('sha256', raw).update(userId).digest();
      const p = key.pseudonym(userId);
      expect(p.id).toBe(mac.toString('base64url', 0, 16));
      expect(p.hi).toBe(mac.readUInt32BE(0));
      expect(p.lo).toBe(mac.readUInt32BE(4));
      expect(p.id).not.toContain(userId.slice(0, 3));
    }
  });

  it('epochs are UTC calendar months', () => {
    expect(epochOf(Date.UTC(2026, 0, 31, 23, 59, 59, 999))).toEqual({
      id: '2026-01',
      start: Date.UTC(2026, 0, 1),
      end: Date.UTC(2026, 1, 1),
    });
    expect(epochOf(Date.UTC(2026, 1, 1)).id).toBe('2026-02');
    expect(epochOf(Date.UTC(2026, 11, 5)).end).toBe(Date.UTC(2027, 0, 1));
  });

  it('keys are created on first use under DATA_DIR with mode 0600, stable across restarts, rotated per epoch', () => {
    const d = dir();
    const path = join(d, KEYS_FILE);
    const ring = new KeyRing({ dataDir: d, logger });
    expect(existsSync(path)).toBe(false);
    const jan = ring.key('2026-01').pseudonym('user-1');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // A new process (ring) reads the same key.
    expect(new KeyRing({ dataDir: d, logger }).key('2026-01').pseudonym('user-1')).toEqual(jan);
    const feb = ring.key('2026-02').pseudonym('user-1');
    expect(feb.id).not.toBe(jan.id);
    // Only the newest two epochs are kept: the oldest key is destroyed.
    ring.key('2026-03');
    expect(ring.epochs()).toEqual(['2026-02', '2026-03']);
    const file = JSON.parse(readFileSync(path, 'utf8'));
    expect(file.keys.map((k: { epoch: string }) => k.epoch).sort()).toEqual(['2026-02', '2026-03']);
    expect(readFileSync(path, 'utf8')).not.toContain('user-1');
  });

  it('a key file readable by others is narrowed to 0600; a corrupt one is refused', () => {
    const d = dir();
    new KeyRing({ dataDir: d, logger }).key('2026-01');
    chmodSync(join(d, KEYS_FILE), 0o644);
    new KeyRing({ dataDir: d, logger }).key('2026-01');
    expect(statSync(join(d, KEYS_FILE)).mode & 0o777).toBe(0o600);
    writeFileSync(
      join(d, KEYS_FILE),
      JSON.stringify({ version: 1, keys: [{ epoch: '2026-01', key: 'c2hvcnQ=' }] }),
      { mode: 0o600 },
    );
    expect(() => new KeyRing({ dataDir: d, logger }).key('2026-01')).toThrow(/bad key/);
  });

  it('the vault maps both ways and re-keys on rotation', () => {
    const vault = new PseudonymVault();
    vault.set('alice', 3, 'p1');
    expect(vault.get('alice')).toBe(3);
    expect(vault.userOf('p1')).toBe('alice');
    vault.set('alice', 3, 'p2', 'p1');
    expect(vault.userOf('p1')).toBeUndefined();
    expect(vault.userOf('p2')).toBe('alice');
    vault.deletePseudonym('p2');
    expect(vault.get('alice')).toBeUndefined();
    expect(vault.size).toBe(0);
  });
});

describe('IP truncation', () => {
  it('IPv4 to /24, IPv6 to /48, mapped IPv4 as IPv4; anything else is dropped', () => {
    expect(truncateIp('203.0.113.77')).toBe('203.0.113.0/24');
    expect(truncateIp(' 10.1.2.3 ')).toBe('10.1.2.0/24');
    expect(truncateIp('::ffff:203.0.113.77')).toBe('203.0.113.0/24');
    expect(truncateIp('2001:db8:1:2::1')).toBe('2001:db8:1::/48');
    expect(truncateIp('2001:0DB8:00AB:ffff:1:2:3:4')).toBe('2001:db8:ab::/48');
    expect(truncateIp('::1')).toBe('0:0:0::/48');
    expect(truncateIp('fe80::1%eth0')).toBe('fe80:0:0::/48');
    expect(truncateIp('64:ff9b::192.0.2.1')).toBe('64:ff9b:0::/48');
    for (const bad of [
      '',
      'not an ip',
      '300.1.1.1',
      '1.2.3',
      '2001:db8::1::2',
      'alice@example.com',
      42,
      null,
      undefined,
      { ip: '1.2.3.4' },
    ]) {
      expect(truncateIp(bad)).toBeUndefined();
    }
  });
});

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.ts';
import { renderConfigDoc } from './doc.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'bb-config-'));
const base = () => ({ DATA_DIR: dir(), JWT_SECRET: 's'.repeat(32) });

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('docs/configuration.md is generated from the schema (run `npm run docs`)', () => {
    expect(readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8')).toBe(
      renderConfigDoc(),
    );
  });

  it('has the defaults of SPEC §2 and the documented units', () => {
    const c = loadConfig(base());
    expect([
      c.host,
      c.port,
      c.maxMessageBytes,
      c.rateLimitCommands,
      c.maxConnectionsPerUser,
      c.connectTimeoutMs,
    ]).toEqual(['127.0.0.1', 8080, 65536, 100, 10, 5000]);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it.each([
    [{ PORT: '70000' }, 'PORT', 'at most 65535'],
    [{ PORT: 'http' }, 'PORT', 'whole number'],
    [{ MAX_MESSAGE_BYTES: '1.5' }, 'MAX_MESSAGE_BYTES', 'whole number'],
    [{ RATE_LIMIT_COMMANDS: '0' }, 'RATE_LIMIT_COMMANDS', 'at least 1'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', ''],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET', 'at least 32'],
    [{ JWKS_URL: 'not a url' }, 'JWKS_URL', ''],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL', 'redis://'],
    [{ KAFKA_BROKERS: 'k:9092,nohostport' }, 'KAFKA_BROKERS', 'host:port'],
    [{ BALANCER_STRATEGY: 'random' }, 'BALANCER_STRATEGY', ''],
    [{ NODE_ID: 'has space' }, 'NODE_ID', ''],
  ])('%o stops start-up naming %s', (env, variable, words) => {
    const e = errorOf({ ...base(), ...env });
    expect(e.variable).toBe(variable);
    expect(e.message.startsWith(`${variable}: `)).toBe(true);
    expect(e.message).toContain(words);
  });

  it('reports every bad variable at once, one line each', () => {
    const e = errorOf({ ...base(), PORT: 'http', LOG_LEVEL: 'loud', MAX_MESSAGE_BYTES: '1.5' });
    expect(e.problems.map((p) => p.variable)).toEqual(['PORT', 'MAX_MESSAGE_BYTES', 'LOG_LEVEL']);
    expect(e.message.split('\n')).toHaveLength(3);
    for (const line of e.message.split('\n')) expect(line).toMatch(/^[A-Z_]+: /);
  });

  it.each([
    [{ HEARTBEAT_INTERVAL_MS: '5000', NODE_TTL_MS: '6000' }, 'HEARTBEAT_INTERVAL_MS', 'half of NODE_TTL_MS'],
    [{ DRAIN_MS: '20000', SHUTDOWN_TIMEOUT_MS: '10000' }, 'DRAIN_MS', 'within SHUTDOWN_TIMEOUT_MS'],
    [{ VAPID_PUBLIC_KEY: 'abc' }, 'VAPID_PRIVATE_KEY', 'other VAPID key'],
    [{ APNS_KEY: '-----BEGIN PRIVATE KEY-----' }, 'APNS_KEY_ID', 'with APNS_KEY'],
  ])('cross-field rule %o names %s', (env, variable, words) => {
    const e = errorOf({ ...base(), ...env });
    expect(e.variable).toBe(variable);
    expect(e.message).toContain(words);
  });

  it('never echoes a secret in the error', () => {
    expect(errorOf({ ...base(), JWT_SECRET: 'hunter2' }).message).not.toContain('hunter2');
  });

  it('generates a development secret only without any key, and only on loopback', () => {
    const dev = loadConfig({ DATA_DIR: dir() });
    expect(dev.devSecret).toBe(true);
    expect(dev.jwtSecret!.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig(base()).devSecret).toBe(false);
    expect(errorOf({ DATA_DIR: dir(), HOST: '0.0.0.0' }).variable).toBe('JWT_SECRET');
    expect(loadConfig({ ...base(), HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
  });

  it('NODE_ID is random but stable per DATA_DIR', () => {
    const d = dir();
    const a = loadConfig({ ...base(), DATA_DIR: d }).nodeId;
    expect(a).toMatch(/^node-[0-9a-f]{8}$/);
    expect(loadConfig({ ...base(), DATA_DIR: d }).nodeId).toBe(a);
    expect(loadConfig({ ...base() }).nodeId).not.toBe(a);
    expect(loadConfig({ ...base(), NODE_ID: 'edge-1' }).nodeId).toBe('edge-1');
  });

  it('JWT_PUBLIC_KEY may be a PEM or a path to one', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n';
    const f = join(dir(), 'key.pem');
    writeFileSync(f, pem);
    expect(loadConfig({ DATA_DIR: dir(), JWT_PUBLIC_KEY: f }).jwtPublicKey).toBe(pem);
    expect(errorOf({ DATA_DIR: dir(), JWT_PUBLIC_KEY: '/no/such/file' }).variable).toBe('JWT_PUBLIC_KEY');
  });

  it('ALLOWED_ORIGINS is a trimmed comma list', () => {
    expect(loadConfig({ ...base(), ALLOWED_ORIGINS: ' https://a , https://b,' }).allowedOrigins).toEqual([
      'https://a',
      'https://b',
    ]);
  });
});

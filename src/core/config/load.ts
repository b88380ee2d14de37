import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigVars, type Config } from './schema.ts';

/** A configuration problem: one line naming the variable and what is wrong. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** Never echoed in error messages. */
const SECRET_VARS = new Set(['JWT_SECRET', 'REDIS_URL', 'DATABASE_URL']);

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * Validates the environment once into a frozen Config. Throws ConfigError on the first
 * bad variable. Resolves `NODE_ID` (stable per DATA_DIR), `JWT_PUBLIC_KEY` files and the
 * development secret.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const cv of ConfigVars) {
    const raw = env[cv.env] ?? cv.default;
    const parsed = cv.schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const shown = SECRET_VARS.has(cv.env) ? '' : ` (got ${JSON.stringify(raw)})`;
      throw new ConfigError(cv.env, `${issue?.message ?? 'invalid'}${shown}`);
    }
    out[cv.key] = parsed.data;
  }
  const cfg = out as Record<string, string | number | boolean | string[] | undefined>;

  if (typeof cfg.databaseUrl === 'string' && !/^postgres(ql)?:\/\//.test(cfg.databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }

  if (typeof cfg.jwtPublicKey === 'string' && !cfg.jwtPublicKey.includes('-----BEGIN')) {
    try {
      cfg.jwtPublicKey = readFileSync(cfg.jwtPublicKey, 'utf8');
    } catch (err) {
      throw new ConfigError('JWT_PUBLIC_KEY', `not a PEM key and not a readable file (${(err as Error).message})`);
    }
  }

  const dataDir = resolve(String(cfg.dataDir));
  cfg.dataDir = dataDir;
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new ConfigError('DATA_DIR', `cannot create ${dataDir} (${(err as Error).message})`);
  }
  if (cfg.nodeId === undefined) cfg.nodeId = stableNodeId(dataDir);

  const hasKey = cfg.jwtSecret !== undefined || cfg.jwtPublicKey !== undefined || cfg.jwksUrl !== undefined;
  cfg.devSecret = !hasKey;
  if (!hasKey) {
    if (!LOOPBACK.has(String(cfg.host))) {
      throw new ConfigError('JWT_SECRET', `required when HOST is not loopback (HOST=${String(cfg.host)}); without it the server only binds 127.0.0.1`);
    }
    cfg.jwtSecret = randomBytes(32).toString('base64url');
  }
  return Object.freeze(cfg) as unknown as Config;
}

function stableNodeId(dataDir: string): string {
  const file = join(dataDir, 'node-id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9_.-]{1,64}$/.test(id)) return id;
  }
  const id = `node-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(file, id + '\n');
  } catch (err) {
    throw new ConfigError('DATA_DIR', `cannot write ${file} (${(err as Error).message})`);
  }
  return id;
}

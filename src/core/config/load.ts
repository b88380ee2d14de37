import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KindGuard, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { ConfigSchema, ConfigVars, type Config } from './schema.ts';

/**
 * A configuration problem: one line per problem, each naming the variable and what is
 * wrong. `variable` is the first one's; `problems` lists them all (every bad variable is
 * reported at once, not the first only).
 */
export class ConfigError extends Error {
  readonly variable: string;
  readonly problems: ReadonlyArray<{ variable: string; problem: string }>;
  constructor(
    variable: string,
    problem: string,
    more: ReadonlyArray<{ variable: string; problem: string }> = [],
  ) {
    const all = [{ variable, problem }, ...more];
    super(all.map((p) => `${p.variable}: ${p.problem}`).join('\n'));
    this.name = 'ConfigError';
    this.variable = variable;
    this.problems = all;
  }
}

/** Rules across variables: each names the variable to change. */
function crossFieldProblems(cfg: Record<string, unknown>): Array<{ variable: string; problem: string }> {
  const out: Array<{ variable: string; problem: string }> = [];
  const n = (k: string): number => Number(cfg[k]);
  if (n('heartbeatIntervalMs') * 2 > n('nodeTtlMs')) {
    out.push({
      variable: 'HEARTBEAT_INTERVAL_MS',
      problem: `must be at most half of NODE_TTL_MS (${n('nodeTtlMs')}), or live nodes expire between heartbeats`,
    });
  }
  if (n('drainMs') > n('shutdownTimeoutMs')) {
    out.push({
      variable: 'DRAIN_MS',
      problem: `must be within SHUTDOWN_TIMEOUT_MS (${n('shutdownTimeoutMs')})`,
    });
  }
  if ((cfg['vapidPublicKey'] === undefined) !== (cfg['vapidPrivateKey'] === undefined)) {
    out.push({
      variable: cfg['vapidPublicKey'] === undefined ? 'VAPID_PUBLIC_KEY' : 'VAPID_PRIVATE_KEY',
      problem: 'is required with the other VAPID key',
    });
  }
  if (cfg['apnsKey'] !== undefined) {
    for (const [key, env] of [
      ['apnsKeyId', 'APNS_KEY_ID'],
      ['apnsTeamId', 'APNS_TEAM_ID'],
      ['apnsTopic', 'APNS_TOPIC'],
    ] as const) {
      if (cfg[key] === undefined) out.push({ variable: env, problem: 'is required with APNS_KEY' });
    }
  }
  return out;
}

const BY_KEY = new Map<string, (typeof ConfigVars)[number]>(ConfigVars.map((c) => [c.key, c]));

const WHOLE = /^-?\d+$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * One environment string → the value its schema describes. Strict on purpose (TypeBox's
 * `Value.Convert` would read "1.5" as 1 and "0x10" as 16): what does not decode stays a
 * string, and the check then names the expected type.
 */
function decodeEnv(schema: TSchema, raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  const s = raw.trim();
  if (KindGuard.IsOptional(schema) && s === '') return undefined;
  if (KindGuard.IsInteger(schema)) return WHOLE.test(s) ? Number(s) : s;
  if (KindGuard.IsNumber(schema)) return DECIMAL.test(s) ? Number(s) : s;
  if (KindGuard.IsBoolean(schema)) return s === 'true' ? true : s === 'false' ? false : s;
  if (KindGuard.IsArray(schema))
    return s
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  return s;
}

/** One line a person can act on, from the first TypeBox error of a variable. */
function describe(error: ValueError, varSchema: TSchema): string {
  const s = error.schema as Record<string, unknown>;
  const custom = (s['errorMessage'] ?? (varSchema as Record<string, unknown>)['errorMessage']) as
    string | undefined;
  switch (error.type) {
    case ValueErrorType.Integer:
      return 'must be a whole number';
    case ValueErrorType.Number:
      return custom ?? 'must be a number';
    case ValueErrorType.Boolean:
      return 'must be true or false';
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${String(s['minimum'])}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${String(s['maximum'])}`;
    case ValueErrorType.NumberExclusiveMinimum:
      return custom ?? `must be more than ${String(s['exclusiveMinimum'])}`;
    case ValueErrorType.StringMinLength:
      return s['minLength'] === 1
        ? 'must not be empty'
        : `must be at least ${String(s['minLength'])} characters`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${String(s['maxLength'])} characters`;
    case ValueErrorType.StringPattern:
      return custom ?? `must match ${String(s['pattern'])}`;
    case ValueErrorType.StringFormat:
      return custom ?? 'must be a URL';
    case ValueErrorType.ArrayMinItems:
      return custom ?? 'must not be empty';
    case ValueErrorType.Union: {
      const literals = ((s['anyOf'] as Array<{ const?: unknown }> | undefined) ?? []).map((v) => v.const);
      return `must be one of ${literals.join(', ')}`;
    }
    default:
      return custom ?? error.message;
  }
}

/** Never echoed in error messages. */
const SECRET_VARS = new Set(['JWT_SECRET', 'REDIS_URL', 'DATABASE_URL']);

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * Validates the environment once into a frozen Config. Throws one ConfigError listing
 * every bad variable, then every broken rule across variables. Resolves `NODE_ID` (stable per DATA_DIR), `JWT_PUBLIC_KEY` files and the
 * development secret.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: Array<{ variable: string; problem: string }> = [];
  for (const cv of ConfigVars) out[cv.key] = decodeEnv(cv.schema, env[cv.env] ?? cv.default);
  // Every bad variable, in declaration order; the first problem of each.
  const seen = new Set<string>();
  for (const error of Value.Errors(ConfigSchema, out)) {
    const key = error.path.split('/')[1] ?? '';
    const cv = BY_KEY.get(key);
    if (!cv || seen.has(key)) continue;
    seen.add(key);
    const raw = env[cv.env] ?? cv.default;
    const shown = SECRET_VARS.has(cv.env) ? '' : ` (got ${JSON.stringify(raw)})`;
    problems.push({ variable: cv.env, problem: `${describe(error, cv.schema)}${shown}` });
  }
  if (problems.length === 0) problems.push(...crossFieldProblems(out));
  if (problems.length > 0)
    throw new ConfigError(problems[0]!.variable, problems[0]!.problem, problems.slice(1));
  const cfg = out as Record<string, string | number | boolean | string[] | undefined>;

  if (typeof cfg.databaseUrl === 'string' && !/^postgres(ql)?:\/\//.test(cfg.databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }

  if (typeof cfg.jwtPublicKey === 'string' && !cfg.jwtPublicKey.includes('-----BEGIN')) {
    try {
      cfg.jwtPublicKey = readFileSync(cfg.jwtPublicKey, 'utf8');
    } catch (err) {
      throw new ConfigError(
        'JWT_PUBLIC_KEY',
        `not a PEM key and not a readable file (${(err as Error).message})`,
      );
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
      throw new ConfigError(
        'JWT_SECRET',
        `required when HOST is not loopback (HOST=${String(cfg.host)}); without it the server only binds 127.0.0.1`,
      );
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

import { existsSync, readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../../core/config/index.ts';

/** The performance series the alert service samples (SPEC §7). */
export const METRIC_NAMES = [
  'connections',
  'events_per_second',
  'http_p99_ms',
  'http_error_rate',
  'event_lag',
  'dlq_size',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** A threshold rule: `metric op value` must hold for `forSeconds` before the alert opens. */
export interface AlertRule {
  name: string;
  metric: MetricName;
  op: '>' | '<';
  value: number;
  forSeconds: number;
}

const VAR = 'ALERT_RULES';
const FIELDS = new Set(['name', 'metric', 'op', 'value', 'forSeconds']);

export function isMetricName(x: unknown): x is MetricName {
  return typeof x === 'string' && (METRIC_NAMES as readonly string[]).includes(x);
}

/**
 * `ALERT_RULES`: a JSON array of `{name, metric, op, value, forSeconds}`, or the path of a
 * file holding one. Unset or blank → no rules. Anything else that is wrong throws
 * `ConfigError('ALERT_RULES', …)` naming the rule (by index and name) and the field.
 */
export function parseAlertRules(raw: string | undefined): AlertRule[] {
  const text = raw?.trim() ?? '';
  if (text === '') return [];
  let json = text;
  let source = '';
  if (!text.startsWith('[') && !text.startsWith('{')) {
    if (!existsSync(text) || !statSync(text).isFile()) {
      throw new ConfigError(
        VAR,
        `neither a JSON array of rules nor a readable file (no file at ${JSON.stringify(text)})`,
      );
    }
    try {
      json = readFileSync(text, 'utf8');
    } catch (err) {
      throw new ConfigError(VAR, `cannot read ${text} (${(err as Error).message})`);
    }
    source = ` in ${text}`;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new ConfigError(VAR, `invalid JSON${source} (${(err as Error).message})`);
  }
  if (!Array.isArray(parsed))
    throw new ConfigError(VAR, `must be a JSON array of rules${source} (got ${typeOf(parsed)})`);

  const rules: AlertRule[] = [];
  const names = new Set<string>();
  parsed.forEach((item: unknown, i) => {
    const rule = validateRule(item, `rule ${i}${source}`);
    if (names.has(rule.name))
      throw new ConfigError(VAR, `rule ${i} ("${rule.name}")${source}: duplicate name`);
    names.add(rule.name);
    rules.push(rule);
  });
  return rules;
}

function validateRule(item: unknown, where: string): AlertRule {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    throw new ConfigError(VAR, `${where}: must be an object (got ${typeOf(item)})`);
  const r = item as Record<string, unknown>;
  const label = typeof r.name === 'string' && r.name !== '' ? `${where} ("${r.name}")` : where;
  const fail = (problem: string): never => {
    throw new ConfigError(VAR, `${label}: ${problem}`);
  };
  for (const f of FIELDS) if (!(f in r)) fail(`missing field "${f}"`);
  for (const k of Object.keys(r))
    if (!FIELDS.has(k)) fail(`unknown field "${k}" (fields: ${[...FIELDS].join(', ')})`);
  if (typeof r.name !== 'string' || r.name.trim() === '' || r.name.length > 128)
    fail('"name" must be a non-empty string of at most 128 characters');
  if (!isMetricName(r.metric))
    fail(`unknown metric ${JSON.stringify(r.metric)} (one of ${METRIC_NAMES.join(', ')})`);
  if (r.op !== '>' && r.op !== '<') fail(`"op" must be ">" or "<" (got ${JSON.stringify(r.op)})`);
  if (typeof r.value !== 'number' || !Number.isFinite(r.value))
    fail(`"value" must be a finite number (got ${JSON.stringify(r.value)})`);
  if (
    typeof r.forSeconds !== 'number' ||
    !Number.isFinite(r.forSeconds) ||
    r.forSeconds < 0 ||
    r.forSeconds > 86_400
  ) {
    fail(`"forSeconds" must be a number of seconds from 0 to 86400 (got ${JSON.stringify(r.forSeconds)})`);
  }
  return {
    name: r.name as string,
    metric: r.metric as MetricName,
    op: r.op as '>' | '<',
    value: r.value as number,
    forSeconds: r.forSeconds as number,
  };
}

function typeOf(x: unknown): string {
  return x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x;
}

/** Whether a rule's condition holds for a value (never for NaN: an unknown value holds nothing). */
export function holds(rule: AlertRule, value: number): boolean {
  return rule.op === '>' ? value > rule.value : value < rule.value;
}

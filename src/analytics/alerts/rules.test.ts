import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/config/index.ts';
import { holds, parseAlertRules } from './rules.ts';

const dir = mkdtempSync(join(tmpdir(), 'alert-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const good = { name: 'p99 high', metric: 'http_p99_ms', op: '>', value: 500, forSeconds: 30 };

function configError(raw: string | undefined): ConfigError {
  try {
    parseAlertRules(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe('ALERT_RULES');
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseAlertRules', () => {
  it('parses a JSON array; unset or blank is no rules', () => {
    expect(
      parseAlertRules(
        JSON.stringify([
          good,
          { name: 'no events', metric: 'events_per_second', op: '<', value: 1, forSeconds: 0 },
        ]),
      ),
    ).toEqual([good, { name: 'no events', metric: 'events_per_second', op: '<', value: 1, forSeconds: 0 }]);
    expect(parseAlertRules(undefined)).toEqual([]);
    expect(parseAlertRules('  ')).toEqual([]);
    expect(parseAlertRules('[]')).toEqual([]);
  });

  it('reads a file holding the array', () => {
    const file = join(dir, 'rules.json');
    writeFileSync(file, JSON.stringify([good]));
    expect(parseAlertRules(file)).toEqual([good]);
  });

  it('names a missing file, and bad JSON inside a file with the file', () => {
    expect(configError(join(dir, 'nope.json')).message).toMatch(
      /^ALERT_RULES: neither a JSON array of rules nor a readable file \(no file at ".*nope\.json"\)$/,
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '[{"name":');
    expect(configError(bad).message).toMatch(/^ALERT_RULES: invalid JSON in .*bad\.json \(/);
  });

  it('rejects bad JSON and a non-array', () => {
    expect(configError('[{"name": "x",]').message).toMatch(/^ALERT_RULES: invalid JSON \(/);
    expect(configError('{"name":"x"}').message).toBe(
      'ALERT_RULES: must be a JSON array of rules (got object)',
    );
    expect(configError('[1]').message).toBe('ALERT_RULES: rule 0: must be an object (got number)');
  });

  it('names the rule and the field that is wrong', () => {
    const one = (patch: Record<string, unknown>, drop?: string) => {
      const r: Record<string, unknown> = { ...good, ...patch };
      if (drop) delete r[drop];
      return configError(JSON.stringify([good, r]).replace('"p99 high"', '"first"')).message;
    };
    expect(one({ metric: 'cpu' })).toBe(
      'ALERT_RULES: rule 1 ("p99 high"): unknown metric "cpu" (one of connections, events_per_second, http_p99_ms, http_error_rate, event_lag, dlq_size)',
    );
    expect(one({ op: '>=' })).toBe('ALERT_RULES: rule 1 ("p99 high"): "op" must be ">" or "<" (got ">=")');
    expect(one({}, 'forSeconds')).toBe('ALERT_RULES: rule 1 ("p99 high"): missing field "forSeconds"');
    expect(one({}, 'name')).toBe('ALERT_RULES: rule 1: missing field "name"');
    expect(one({ value: '500' })).toBe(
      'ALERT_RULES: rule 1 ("p99 high"): "value" must be a finite number (got "500")',
    );
    expect(one({ forSeconds: -1 })).toMatch(
      /"forSeconds" must be a number of seconds from 0 to 86400 \(got -1\)$/,
    );
    expect(one({ name: '' })).toMatch(/rule 1: "name" must be a non-empty string/);
    expect(one({ severity: 'high' })).toMatch(/rule 1 \("p99 high"\): unknown field "severity"/);
  });

  it('rejects duplicate names', () => {
    expect(configError(JSON.stringify([good, good])).message).toBe(
      'ALERT_RULES: rule 1 ("p99 high"): duplicate name',
    );
  });
});

describe('holds', () => {
  it('compares strictly and never holds for an unknown value', () => {
    const gt = { ...good, op: '>' as const, metric: 'http_p99_ms' as const };
    expect(holds(gt, 501)).toBe(true);
    expect(holds(gt, 500)).toBe(false);
    expect(holds({ ...gt, op: '<' }, 499)).toBe(true);
    expect(holds(gt, NaN)).toBe(false);
    expect(holds({ ...gt, op: '<' }, NaN)).toBe(false);
  });
});

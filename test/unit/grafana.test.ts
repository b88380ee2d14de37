/**
 * docs/grafana-dashboard.json stays true to the metrics Backbeat exports: it parses, its
 * layout is sane, and every metric its PromQL names is a family of a started app's
 * `GET /metrics` (families without samples yet still have their HELP/TYPE lines;
 * `_bucket`/`_sum`/`_count` are matched to their histogram or summary).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

interface Target {
  expr: string;
  refId: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}
interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; query?: string | { query: string } }> };
}

const dashboard = JSON.parse(
  readFileSync(join(import.meta.dirname, '../../docs/grafana-dashboard.json'), 'utf8'),
) as Dashboard;

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'and',
  'or',
  'unless',
  'inf',
  'nan',
]);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or literals. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range selectors
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // grouping labels
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()/g)) {
    if (!KEYWORDS.has(m[1]!.toLowerCase())) names.add(m[1]!);
  }
  return [...names];
}

describe('Grafana dashboard', () => {
  let srv: TestServer;
  let families: Map<string, string>;

  beforeAll(async () => {
    srv = await startTestServer();
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    families = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  });

  afterAll(async () => {
    await srv?.close();
  });

  it('parses, with unique panel ids, a 24-column layout and a query in every chart', () => {
    expect(dashboard.title).toBe('Backbeat');
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.expr.trim(), p.title).not.toBe('');
    }
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'instance']);
  });

  it('the metric-name extraction sees through PromQL syntax', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(a_b_bucket{x=~"5.."}[$__rate_interval])))',
      ),
    ).toEqual(['a_b_bucket']);
    expect(metricNames('sum(rate(x_total{s="y z"}[5m])) / clamp_min(sum(rate(y_total[5m])), 1e-9)')).toEqual([
      'x_total',
      'y_total',
    ]);
    expect(metricNames('max by (dependency) (up) offset 5m')).toEqual(['up']);
  });

  it('every metric its expressions reference is exported by GET /metrics', () => {
    expect(families.size).toBeGreaterThan(40);
    const exprs = dashboard.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
    );
    const instanceVar = dashboard.templating.list.find((v) => v.name === 'instance')!.query;
    exprs.push({
      panel: 'variable instance',
      expr: (typeof instanceVar === 'string' ? instanceVar : instanceVar!.query).replace(
        /^label_values\((\w+),.*$/,
        '$1',
      ),
    });

    const missing: string[] = [];
    const used = new Set<string>();
    for (const { panel, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        const family = families.has(name)
          ? name
          : families.get(base) === 'histogram' || families.get(base) === 'summary'
            ? base
            : undefined;
        if (family === undefined) missing.push(`${panel}: ${name}`);
        else used.add(family);
      }
    }
    expect(missing).toEqual([]);
    // Every area the dashboard promises has panels.
    for (const prefix of [
      'backbeat_gateway_',
      'backbeat_http_',
      'backbeat_streaming_',
      'backbeat_push_',
      'backbeat_core_breaker_',
      'backbeat_process_',
    ]) {
      expect(
        [...used].some((f) => f.startsWith(prefix)),
        prefix,
      ).toBe(true);
    }
  });
});

/**
 * Every metric name the docs mention exists: a doc that names `backbeat_…` promises an
 * operator a series to graph or alert on. Names are checked against the HELP/TYPE lines
 * of a started app's /metrics (histogram `_bucket`/`_sum`/`_count` map to their family).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const ROOT = join(import.meta.dirname, '../..');
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

describe('metric names in the docs', () => {
  let srv: TestServer;
  beforeAll(async () => {
    // The stream worker on (STREAM_WORKER=auto leaves it off below 4 cores): its metrics are documented too.
    srv = await startTestServer({ STREAM_WORKER: 'true' });
  });
  afterAll(async () => srv.close());

  it('every backbeat_* name a doc mentions is exported by /metrics', async () => {
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    const families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const missing: string[] = [];
    let mentioned = 0;
    for (const doc of DOCS) {
      // `backbeat_push_*`-style prefixes in prose are families of names, not one name.
      const body = readFileSync(join(ROOT, doc), 'utf8').replace(/\bbackbeat_[a-z0-9_]*\*/g, '');
      for (const [name] of body.matchAll(/\bbackbeat_[a-z0-9_]+[a-z0-9]/g)) {
        mentioned++;
        const family = name.replace(/_(bucket|sum|count)$/, '');
        if (!families.has(name) && !families.has(family)) missing.push(`${doc}: ${name}`);
      }
    }
    expect(mentioned).toBeGreaterThan(10);
    expect([...new Set(missing)]).toEqual([]);
  });
});

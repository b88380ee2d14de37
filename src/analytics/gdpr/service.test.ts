import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/observability/index.ts';
import { SqliteStore } from '../../core/store/index.ts';
import { ManualClock } from '../../core/time/index.ts';
import { GdprService, parseConsent, type Eraser } from './service.ts';

const dirs: string[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(
  erasers: Eraser[],
  opts: { consentDefault?: 'granted' | 'denied'; store?: SqliteStore; dir?: string } = {},
) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'bb-gdpr-'));
  if (!opts.dir) dirs.push(dir);
  const lines: string[] = [];
  const logger = createLogger(
    'info',
    new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) }),
  );
  const clock = new ManualClock();
  const store = opts.store ?? (await SqliteStore.open({ dir, logger, clock }));
  const registry = new Registry();
  const gdpr = new GdprService({
    store,
    erasers,
    exporters: [{ name: 'stream', export: async (u) => ({ events: [`e-of-${u}`] }) }],
    consentDefault: opts.consentDefault ?? 'granted',
    clock,
    logger,
    registry,
    retryBaseMs: 100,
    retryMaxMs: 400,
  });
  closers.push(async () => {
    await gdpr.close();
    await store.close();
  });
  return { gdpr, store, clock, lines, registry, dir };
}

/** An eraser that records its calls and fails the first `failures` times. */
function eraser(name: string, calls: string[], failures = 0): Eraser {
  let left = failures;
  return {
    name,
    erase: async (u) => {
      calls.push(`${name}:${u}`);
      if (left-- > 0) throw new Error(`${name} could not reach its database while erasing ${u}`);
    },
  };
}

describe('GdprService', () => {
  it('consent: the default for a user never asked, the stored choices after a put, validated', async () => {
    const changed: string[] = [];
    const { gdpr, store } = await setup([], { consentDefault: 'denied' });
    expect(await gdpr.consent('u1')).toEqual({ analytics: false, personalization: false, marketing: false });
    const g2 = new GdprService({
      store,
      erasers: [],
      exporters: [],
      consentDefault: 'granted',
      clock: new ManualClock(),
      logger: createLogger('silent'),
      registry: new Registry(),
      onConsentChanged: (u, c) => changed.push(`${u}:${c.marketing}`),
    });
    expect(await g2.putConsent('u1', { analytics: true, personalization: false, marketing: true })).toEqual({
      analytics: true,
      personalization: false,
      marketing: true,
    });
    expect(await gdpr.consent('u1')).toEqual({ analytics: true, personalization: false, marketing: true });
    expect(changed).toEqual(['u1:true']);
    await expect(gdpr.putConsent('u1', { analytics: 'yes' } as never)).rejects.toThrow(
      /analytics must be a boolean; personalization must be a boolean \(required\); marketing/,
    );
    await expect(gdpr.consent('bad id')).rejects.toThrow(/user id/);
    expect(() => parseConsent({ analytics: true, personalization: true, marketing: true, extra: 1 })).toThrow(
      /extra is not a consent purpose/,
    );
  });

  it('export: the store part, each exporter under its name, the effective consent', async () => {
    const { gdpr, store } = await setup([]);
    await store.consent.put('u1', { analytics: false, personalization: true, marketing: true });
    const doc = await gdpr.export('u1');
    expect(doc).toMatchObject({
      userId: 'u1',
      consent: { asked: true, analytics: false },
      store: { userId: 'u1', consent: { analytics: false } },
      stream: { events: ['e-of-u1'] },
    });
    expect((await gdpr.export('u2'))['consent']).toEqual({
      asked: false,
      analytics: true,
      personalization: true,
      marketing: true,
    });
  });

  it('erase: receipt first, erasers in order, the store last; retried with backoff; logs never name the user', async () => {
    const calls: string[] = [];
    const { gdpr, store, clock, lines, registry } = await setup([
      eraser('stream', calls),
      eraser('analytics', calls, 2),
    ]);
    await store.consent.put('secret-user-42', { analytics: true, personalization: true, marketing: true });
    const { receiptId } = await gdpr.erase('secret-user-42');
    expect((await gdpr.erase('secret-user-42')).receiptId).toBe(receiptId); // pending: the same receipt
    await gdpr.idle();
    expect(await gdpr.erasure(receiptId)).toEqual({
      status: 'pending',
      stores: { stream: 'done', analytics: 'pending', store: 'done' },
    });
    clock.tick(100); // first retry
    await gdpr.idle();
    expect(await gdpr.erasure(receiptId)).toMatchObject({ status: 'pending' });
    clock.tick(200); // second retry (backoff doubled)
    await gdpr.idle();
    expect(await gdpr.erasure(receiptId)).toEqual({
      status: 'done',
      stores: { stream: 'done', analytics: 'done', store: 'done' },
    });
    expect(calls.filter((c) => c.startsWith('stream'))).toHaveLength(1); // a done store is not run again
    expect(calls.filter((c) => c.startsWith('analytics'))).toHaveLength(3);
    expect(await store.consent.get('secret-user-42')).toBeNull();
    const receipt = await store.erasures.get(receiptId);
    expect(receipt).toMatchObject({ userId: null, status: 'done' });
    expect(receipt!.userHash).toMatch(/^sha256\$/);
    expect(lines.join('')).not.toContain('secret-user-42');
    expect(lines.join('')).toContain(receiptId);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/backbeat_gdpr_eraser_failures_total\{store="analytics"\} 2/);
    expect(metrics).toMatch(/backbeat_gdpr_erasures_completed_total 1/);
    expect(metrics).toMatch(/backbeat_gdpr_erasures_in_progress 0/);
    expect(await gdpr.erasure('unknown')).toBeUndefined();
  });

  it('resume: continues pending receipts where they stopped; a store with no eraser keeps the receipt pending', async () => {
    const calls: string[] = [];
    const first = await setup([eraser('stream', calls), eraser('push', calls)]);
    const { receipt } = await first.store.erasures.begin('u9', ['stream', 'push', 'store', 'legacy']);
    await first.store.erasures.markStore(receipt.id, 'stream', 'done');
    await first.gdpr.resume();
    expect(calls).toEqual(['push:u9']);
    expect(await first.gdpr.erasure(receipt.id)).toEqual({
      status: 'pending',
      stores: { stream: 'done', push: 'done', store: 'done', legacy: 'pending' },
    });
    await first.store.erasures.markStore(receipt.id, 'legacy', 'done');
    await first.gdpr.resume();
    expect(await first.gdpr.erasure(receipt.id)).toMatchObject({ status: 'done' });
    expect(calls).toEqual(['push:u9']);
  });

  it('refuses two erasers with one name', async () => {
    await expect(setup([eraser('store', [])])).rejects.toThrow(/two erasers named store/);
  });
});

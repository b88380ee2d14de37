/**
 * The dashboard's data model, pure (no DOM): parsing the `system:*` publications
 * leniently (a missing field renders as "–", never throws), the open-alert book and the
 * chart series ring buffer. Unit-tested in Node (model.test.ts).
 */

export interface TrendingItem {
  id: string;
  score: number | undefined;
  plays: number | undefined;
  uniqueListeners: number | undefined;
}

export interface Overview {
  eventsTotal: number | undefined;
  eventsPerSecond: number | undefined;
  activeUsers: number | undefined;
  connections: number | undefined;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  errorRate: number | undefined;
  openAlerts: number | undefined;
}

export interface Alert {
  key: string;
  name: string;
  kind: string;
  metric: string;
  state: string;
  value: number | undefined;
  openedAt: number | undefined;
}

/** The performance series charted, keyed as the alert metrics are (SPEC §7). */
export const SERIES = [
  { key: 'connections', title: 'Connections', unit: '', scale: 1, integer: true, color: '#35c2ff' },
  { key: 'events_per_second', title: 'Events / s', unit: '/s', scale: 1, integer: false, color: '#8f7bff' },
  { key: 'http_p99_ms', title: 'HTTP p99', unit: 'ms', scale: 1, integer: false, color: '#ffb020' },
  {
    key: 'http_error_rate',
    title: 'HTTP error rate',
    unit: '%',
    scale: 100,
    integer: false,
    color: '#ff5d6c',
  },
  { key: 'event_lag', title: 'Event lag', unit: 'events', scale: 1, integer: true, color: '#3ecf8e' },
  { key: 'dlq_size', title: 'Dead letters', unit: '', scale: 1, integer: true, color: '#ff8a3d' },
] as const;
export type SeriesKey = (typeof SERIES)[number]['key'];

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

/** A finite number, or undefined. */
export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Epoch millis from a number or an ISO string. */
export function millis(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

/** The token from `#token=…` (other fragment parameters are ignored). */
export function tokenFromHash(hash: string): string | undefined {
  const t = new URLSearchParams(hash.replace(/^#/, '')).get('token')?.trim();
  return t ? t : undefined;
}

/** `GET /v1/analytics/overview` shape (SPEC §7). */
export function parseOverview(data: unknown): Overview {
  const d = obj(data);
  const events = obj(d['events']);
  const http = obj(d['http']);
  const alerts = obj(d['alerts']);
  return {
    eventsTotal: num(events['total']),
    eventsPerSecond: num(events['perSecond']),
    activeUsers: num(d['activeUsers']),
    connections: num(d['connections']),
    p50Ms: num(http['p50Ms']),
    p99Ms: num(http['p99Ms']),
    errorRate: num(http['errorRate']),
    openAlerts: num(alerts['open']) ?? (Array.isArray(alerts['open']) ? alerts['open'].length : undefined),
  };
}

function items(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  const items = obj(v)['items'];
  return Array.isArray(items) ? items : [];
}

function trendingItem(v: unknown): TrendingItem | undefined {
  const d = obj(v);
  const id = d['id'] ?? d['trackId'] ?? d['artistId'];
  if (typeof id !== 'string' || id === '') return undefined;
  return { id, score: num(d['score']), plays: num(d['plays']), uniqueListeners: num(d['uniqueListeners']) };
}

/** `{tracks, artists}`: each a list, or a `GET /v1/analytics/trending` answer (`{items}`). */
export function parseTrending(data: unknown): { tracks: TrendingItem[]; artists: TrendingItem[] } {
  const d = obj(data);
  const list = (v: unknown) =>
    items(v)
      .map(trendingItem)
      .filter((x): x is TrendingItem => x !== undefined);
  return { tracks: list(d['tracks']), artists: list(d['artists']) };
}

/** Alerts in a `system:alerts` publication: one alert, `{alert}`, or `{items:[…]}`. */
export function alertsIn(data: unknown): Alert[] {
  const d = obj(data);
  const raw = Array.isArray(d['items']) ? d['items'] : d['alert'] !== undefined ? [d['alert']] : [d];
  const out: Alert[] = [];
  for (const r of raw) {
    const a = obj(r);
    const name = typeof a['name'] === 'string' ? a['name'] : undefined;
    const id = typeof a['id'] === 'string' ? a['id'] : undefined;
    if (name === undefined && id === undefined) continue;
    out.push({
      key: id ?? `${name}|${String(a['metric'])}`,
      name: name ?? id!,
      kind: typeof a['kind'] === 'string' ? a['kind'] : 'threshold',
      metric: typeof a['metric'] === 'string' ? a['metric'] : '',
      state: typeof a['state'] === 'string' ? a['state'] : 'open',
      value: num(a['value']),
      openedAt: millis(a['openedAt']),
    });
  }
  return out;
}

/** Alert changes by channel offset: an older change never overrides a newer one. */
export class AlertBook {
  readonly #byKey = new Map<string, { alert: Alert; offset: number }>();

  apply(alerts: readonly Alert[], offset: number): void {
    for (const alert of alerts) {
      const cur = this.#byKey.get(alert.key);
      if (cur && cur.offset > offset) continue;
      this.#byKey.set(alert.key, { alert, offset });
    }
  }

  /** Open alerts, newest first. */
  open(): Alert[] {
    return [...this.#byKey.values()]
      .map((e) => e.alert)
      .filter((a) => a.state === 'open')
      .sort((a, b) => (b.openedAt ?? 0) - (a.openedAt ?? 0));
  }
}

/** A bounded time series per key, x in seconds (uPlot's time scale), kept sorted by time. */
export class SeriesBuffer {
  readonly #max: number;
  readonly #xs: number[] = [];
  readonly #ys = new Map<SeriesKey, Array<number | null>>(SERIES.map((s) => [s.key, []]));

  constructor(max = 300) {
    this.#max = max;
  }

  get length(): number {
    return this.#xs.length;
  }

  /** Adds one `system:metrics` snapshot at `tsMs` (a point at an existing time replaces it). */
  add(tsMs: number, data: unknown): void {
    const d = obj(data);
    const x = tsMs / 1000;
    let i = this.#xs.length;
    while (i > 0 && this.#xs[i - 1]! > x) i--;
    const replace = i > 0 && this.#xs[i - 1] === x;
    if (replace) i--;
    else this.#xs.splice(i, 0, x);
    for (const s of SERIES) {
      const v = num(d[s.key]);
      const ys = this.#ys.get(s.key)!;
      const y = v === undefined ? null : v * s.scale;
      if (replace) ys[i] = y;
      else ys.splice(i, 0, y);
    }
    if (this.#xs.length > this.#max) {
      const drop = this.#xs.length - this.#max;
      this.#xs.splice(0, drop);
      for (const ys of this.#ys.values()) ys.splice(0, drop);
    }
  }

  xs(): number[] {
    return this.#xs;
  }

  ys(key: SeriesKey): Array<number | null> {
    return this.#ys.get(key)!;
  }

  last(key: SeriesKey): number | null | undefined {
    return this.#ys.get(key)!.at(-1);
  }
}

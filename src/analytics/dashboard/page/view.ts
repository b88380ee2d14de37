import { createCharts, type Chart } from './charts.ts';
import { fill, h } from './dom.ts';
import { fmtAgo, fmtInt, fmtMs, fmtNum, fmtRate } from './format.ts';
import type { Alert, Overview, SeriesBuffer, TrendingItem } from './model.ts';

export type Status =
  'no-token' | 'connecting' | 'live' | 'reconnecting' | 'refused' | 'forbidden' | 'offline';

const STATUS_TEXT: Record<Status, string> = {
  'no-token': 'No token',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  refused: 'Token refused',
  forbidden: 'Not allowed',
  offline: 'Offline',
};

interface Card {
  value: HTMLElement;
  sub: HTMLElement;
  el: HTMLElement;
}

/** The page: header, notice, overview cards, trending lists, open alerts, charts. */
export class DashboardView {
  readonly #status = h('span', { class: 'status', 'data-status': 'connecting' }, STATUS_TEXT.connecting);
  readonly #meta = h('span', { class: 'meta' });
  readonly #notice = h('div', { class: 'notice', id: 'notice', role: 'alert', hidden: '' });
  readonly #cards = new Map<string, Card>();
  readonly #tracks = h('ol', { class: 'rank', id: 'trending-tracks' });
  readonly #artists = h('ol', { class: 'rank', id: 'trending-artists' });
  readonly #alerts = h('ul', { class: 'alerts', id: 'open-alerts' });
  readonly #alertCount = h('span', { class: 'badge' }, '0');
  readonly charts: Chart[] = createCharts();

  constructor(root: HTMLElement) {
    const cards = h('section', { class: 'cards', id: 'overview' });
    for (const [key, label] of [
      ['events', 'Events'],
      ['eps', 'Events / s'],
      ['users', 'Active users'],
      ['connections', 'Connections'],
      ['p50', 'HTTP p50'],
      ['p99', 'HTTP p99'],
      ['errors', 'HTTP errors'],
      ['alerts', 'Open alerts'],
    ] as const) {
      const value = h('div', { class: 'card-value' }, '–');
      const sub = h('div', { class: 'card-sub' });
      const el = h(
        'div',
        { class: 'card', 'data-card': key },
        h('div', { class: 'card-label' }, label),
        value,
        sub,
      );
      this.#cards.set(key, { value, sub, el });
      cards.append(el);
    }
    const list = (title: string, ol: HTMLElement, id: string) =>
      h(
        'section',
        { class: 'panel list', id },
        h(
          'header',
          { class: 'panel-head' },
          h('h2', {}, title),
          h('span', { class: 'hint' }, 'score · plays · listeners'),
        ),
        ol,
      );
    fill(root, [
      h(
        'header',
        { class: 'top' },
        h(
          'div',
          { class: 'brand' },
          h('span', { class: 'logo', 'aria-hidden': 'true' }),
          h('h1', {}, 'Backbeat'),
          h('span', { class: 'subtitle' }, 'live dashboard'),
        ),
        h('div', { class: 'top-right' }, this.#meta, this.#status),
      ),
      this.#notice,
      cards,
      h(
        'div',
        { class: 'row' },
        list('Trending tracks', this.#tracks, 'tracks-panel'),
        list('Trending artists', this.#artists, 'artists-panel'),
        h(
          'section',
          { class: 'panel list', id: 'alerts-panel' },
          h('header', { class: 'panel-head' }, h('h2', {}, 'Open alerts'), this.#alertCount),
          this.#alerts,
        ),
      ),
      h('section', { class: 'charts', id: 'charts' }, ...this.charts.map((c) => c.el)),
      h(
        'footer',
        { class: 'foot' },
        'Updated live over /ws from system:overview · system:trending · system:metrics · system:alerts — no polling.',
      ),
    ]);
    for (const c of this.charts) c.mount();
    this.trending([], []);
    this.alerts([]);
  }

  status(s: Status): void {
    this.#status.dataset['status'] = s;
    this.#status.textContent = STATUS_TEXT[s];
    document.body.dataset['state'] = s;
  }

  meta(text: string): void {
    this.#meta.textContent = text;
  }

  /** A message over the content (`kind` for styling and tests); undefined hides it. */
  notice(kind: string | undefined, title?: string, detail?: string): void {
    if (kind === undefined) {
      this.#notice.hidden = true;
      delete this.#notice.dataset['kind'];
      return;
    }
    this.#notice.dataset['kind'] = kind;
    fill(this.#notice, [h('strong', {}, title ?? ''), ...(detail ? [h('span', {}, detail)] : [])]);
    this.#notice.hidden = false;
  }

  overview(o: Overview): void {
    this.#card('events', fmtInt(o.eventsTotal), 'accepted since start');
    this.#card('eps', fmtNum(o.eventsPerSecond), 'ingest rate');
    this.#card('users', fmtInt(o.activeUsers), 'in the current window');
    this.#card('connections', fmtInt(o.connections), 'WebSocket');
    this.#card('p50', fmtMs(o.p50Ms), 'median latency');
    this.#card('p99', fmtMs(o.p99Ms), '99th percentile');
    this.#card('errors', fmtRate(o.errorRate), '5xx of requests');
    this.#card('alerts', fmtInt(o.openAlerts), o.openAlerts ? 'need attention' : 'all clear');
    this.#cards.get('alerts')!.el.dataset['hot'] = o.openAlerts ? 'true' : 'false';
    this.#cards.get('errors')!.el.dataset['hot'] = (o.errorRate ?? 0) > 0.01 ? 'true' : 'false';
  }

  #card(key: string, value: string, sub: string): void {
    const c = this.#cards.get(key)!;
    c.value.textContent = value;
    c.sub.textContent = sub;
  }

  trending(tracks: TrendingItem[], artists: TrendingItem[]): void {
    this.#rank(this.#tracks, tracks, 'No plays yet');
    this.#rank(this.#artists, artists, 'No plays yet');
  }

  #rank(ol: HTMLElement, items: TrendingItem[], empty: string): void {
    if (items.length === 0) {
      fill(ol, [h('li', { class: 'empty' }, empty)]);
      return;
    }
    const top = Math.max(...items.map((i) => i.score ?? i.plays ?? 0), 1e-9);
    fill(
      ol,
      items.slice(0, 10).map((it, i) => {
        const bar = h('span', { class: 'bar' });
        bar.style.width = `${Math.max(2, Math.round((100 * (it.score ?? it.plays ?? 0)) / top))}%`;
        return h(
          'li',
          { 'data-id': it.id },
          h('span', { class: 'pos' }, String(i + 1)),
          h('span', { class: 'name', title: it.id }, it.id, bar),
          h('span', { class: 'num score' }, fmtNum(it.score)),
          h('span', { class: 'num' }, fmtInt(it.plays)),
          h('span', { class: 'num' }, fmtInt(it.uniqueListeners)),
        );
      }),
    );
  }

  /**
   * Open alerts seen on system:alerts (pushes and recent history). `serverOpen` is the
   * overview's count: alerts opened before the channel's retained history are counted
   * there but not listed here, which the panel says.
   */
  alerts(open: Alert[], serverOpen?: number): void {
    const count = Math.max(open.length, serverOpen ?? 0);
    this.#alertCount.textContent = String(count);
    this.#alertCount.dataset['hot'] = count > 0 ? 'true' : 'false';
    const now = Date.now();
    const rows = open.map((a) =>
      h(
        'li',
        { 'data-alert': a.key, 'data-kind': a.kind },
        h('span', { class: 'alert-name' }, a.name),
        h('span', { class: 'alert-kind' }, a.kind),
        h(
          'span',
          { class: 'alert-detail' },
          `${a.metric}${a.value === undefined ? '' : ` = ${fmtNum(a.value)}`}`,
        ),
        h(
          'span',
          { class: 'alert-time' },
          a.openedAt === undefined ? '' : `opened ${fmtAgo(a.openedAt, now)}`,
        ),
      ),
    );
    const unlisted = count - open.length;
    if (unlisted > 0)
      rows.push(
        h(
          'li',
          { class: 'empty' },
          `${unlisted} more opened earlier: GET /v1/analytics/alerts lists every alert.`,
        ),
      );
    if (rows.length === 0) rows.push(h('li', { class: 'empty' }, 'No open alerts'));
    fill(this.#alerts, rows);
  }

  series(buf: SeriesBuffer, live: boolean): void {
    for (const c of this.charts) c.update(buf, live);
  }
}

/**
 * The live dashboard page (bundled by `npm run build:dashboard` into dist/dashboard.js
 * and dist/dashboard.css; served by src/http/routes/dashboard.ts). See docs/dashboard.md.
 *
 * The token comes from the URL fragment (`/dashboard#token=…`), which browsers never
 * send to a server. The page connects to the gateway's own `/ws` with the project's SDK,
 * subscribes to the four `system:` channels and renders every push as it arrives: no
 * polling, no reload. On (re)subscribing it reads the channels' recent history once, so
 * the charts start with the last minutes instead of empty.
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import {
  BackbeatClient,
  BackbeatClientError,
  type Publication,
  type Subscription,
} from '../../../client/index.ts';
import {
  AlertBook,
  SeriesBuffer,
  alertsIn,
  millis,
  parseOverview,
  parseTrending,
  tokenFromHash,
} from './model.ts';
import { fmtTime } from './format.ts';
import { DashboardView } from './view.ts';

const CHANNELS = {
  overview: 'system:overview',
  trending: 'system:trending',
  metrics: 'system:metrics',
  alerts: 'system:alerts',
} as const;
type Feed = keyof typeof CHANNELS;
/** Publications read back on subscribe: the latest snapshot, or a window of series / alert changes. */
const BACKFILL: Record<Feed, number> = { overview: 1, trending: 1, metrics: 300, alerts: 100 };

/** What tests (and the curious) can read: `window.backbeatDashboard`. */
interface DebugState {
  /** Page loads in this tab (sessionStorage): stays 1 while the page updates live. */
  loads: number;
  /** Publications applied per feed, pushes only (history backfill not counted). */
  pushes: Record<Feed, number>;
  client: BackbeatClient | undefined;
}

function countLoad(): number {
  try {
    const n = Number(sessionStorage.getItem('backbeat-dashboard-loads') ?? '0') + 1;
    sessionStorage.setItem('backbeat-dashboard-loads', String(n));
    return n;
  } catch {
    return 1;
  }
}

const debug: DebugState = {
  loads: countLoad(),
  pushes: { overview: 0, trending: 0, metrics: 0, alerts: 0 },
  client: undefined,
};
(window as unknown as { backbeatDashboard: DebugState }).backbeatDashboard = debug;

/** `/ws` beside the page (relative, so a path prefix in front of Backbeat keeps working). */
function wsUrl(): string {
  const u = new URL('ws', location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.hash = '';
  u.search = '';
  return u.toString();
}

const tsOf = (p: Publication): number =>
  millis((p.data as { ts?: unknown } | null)?.ts) ?? p.ts ?? Date.now();

/** One connection with one token; replaced when the fragment's token changes. */
class Session {
  readonly #view: DashboardView;
  readonly #client: BackbeatClient;
  readonly #last: Record<Feed, number> = { overview: 0, trending: 0, metrics: 0, alerts: 0 };
  readonly #series = new SeriesBuffer(300);
  #alerts = new AlertBook();
  /** Refused, forbidden or replaced: this session no longer changes the status or notice. */
  #blocked = false;
  /** Replaced by a session with another token: it no longer touches the page at all. */
  #closed = false;
  #who = '';
  /** Open alerts as the overview counts them (all of them, not only those in the channel's history). */
  #serverOpen: number | undefined;
  #updated = '';

  constructor(view: DashboardView, token: string) {
    this.#view = view;
    this.#client = new BackbeatClient(wsUrl(), { token });
    debug.client = this.#client;
  }

  start(): void {
    const c = this.#client;
    this.#view.status('connecting');
    c.on('state', (s) => {
      if (s === 'connecting' && !this.#blocked) this.#view.status(c.info ? 'reconnecting' : 'connecting');
    });
    c.on('connected', (info) => {
      if (this.#closed) return;
      this.#who = `${info.user} · node ${info.node}`;
      this.#meta();
      if (!this.#blocked) {
        this.#view.status('live');
        this.#view.notice(undefined);
      }
    });
    c.on('disconnected', ({ code, reason, reconnect }) => {
      if (reconnect) {
        if (!this.#blocked) {
          this.#view.status('reconnecting');
          this.#view.notice(
            'offline',
            'Connection lost — reconnecting…',
            reason ? `${reason} (${code})` : `close code ${code}`,
          );
        }
      } else this.#refused(code, reason);
    });
    for (const feed of Object.keys(CHANNELS) as Feed[]) this.#subscribe(feed);
    c.connect().catch((err: unknown) => {
      if (err instanceof BackbeatClientError) this.#refused(err.code, err.message);
    });
  }

  close(): void {
    this.#closed = this.#blocked = true;
    this.#client.close();
  }

  #subscribe(feed: Feed): void {
    const sub = this.#client.subscribe(CHANNELS[feed]);
    sub.on('publication', (p) => this.#apply(feed, [p], true));
    sub.on('subscribed', ({ offset, recovered, resubscribe }) => {
      if (resubscribe && recovered) return; // nothing missed
      this.#last[feed] = 0; // a new stream (first time, or the channel's history was lost)
      if (feed === 'alerts') this.#alerts = new AlertBook();
      void this.#backfill(feed, sub, offset);
    });
    sub.on('error', (err) => {
      if (err instanceof BackbeatClientError && err.code === 4003) this.#forbidden(CHANNELS[feed]);
    });
  }

  async #backfill(feed: Feed, sub: Subscription, top: number): Promise<void> {
    try {
      const page = await sub.history({ limit: BACKFILL[feed] });
      this.#apply(
        feed,
        page.publications.filter((p) => p.offset <= top),
        false,
      );
    } catch {
      // History is a head start only; pushes keep coming either way.
    }
  }

  /** Applies publications of one feed (pushes, or history read on subscribe). */
  #apply(feed: Feed, pubs: Publication[], live: boolean): void {
    if (pubs.length === 0 || this.#closed) return;
    if (live) debug.pushes[feed] += pubs.length;
    const v = this.#view;
    switch (feed) {
      case 'metrics':
        for (const p of pubs) this.#series.add(tsOf(p), p.data);
        v.series(this.#series, live);
        break;
      case 'alerts':
        for (const p of pubs) this.#alerts.apply(alertsIn(p.data), p.offset);
        v.alerts(this.#alerts.open(), this.#serverOpen);
        break;
      case 'overview':
      case 'trending': {
        // Snapshots: only the newest counts; an older one from history never replaces it.
        const p = pubs.reduce((a, b) => (b.offset > a.offset ? b : a));
        if (p.offset <= this.#last[feed]) return;
        this.#last[feed] = p.offset;
        if (feed === 'overview') {
          const o = parseOverview(p.data);
          this.#serverOpen = o.openAlerts;
          v.overview(o);
          v.alerts(this.#alerts.open(), this.#serverOpen); // also refreshes the "opened … ago" times
          this.#updated = `updated ${fmtTime(tsOf(p))}`;
          this.#meta();
        } else {
          const t = parseTrending(p.data);
          v.trending(t.tracks, t.artists);
        }
        break;
      }
    }
  }

  #meta(): void {
    this.#view.meta([this.#who, this.#updated].filter(Boolean).join(' · '));
  }

  #refused(code: number, reason: string): void {
    if (this.#blocked) return;
    if (code === 4003) return this.#forbidden('system:*');
    this.#blocked = true;
    this.#client.close();
    if (code === 4011) {
      this.#view.status('refused');
      this.#view.notice(
        'expired',
        'The token has expired.',
        'Open the dashboard again with a fresh token: /dashboard#token=…',
      );
    } else if (code === 4001) {
      this.#view.status('refused');
      this.#view.notice(
        'refused',
        'The token was refused.',
        `${reason || 'invalid token'} (4001). Check that it is signed with this server's key and not expired.`,
      );
    } else {
      this.#view.status('offline');
      this.#view.notice(
        'offline',
        'Disconnected.',
        `${reason || 'the server closed the connection'} (${code}). Reload the page to try again.`,
      );
    }
  }

  /** Subscribing was refused (4003): nothing on this page can work with this token, so stop. */
  #forbidden(channel: string): void {
    if (this.#blocked) return;
    this.#blocked = true;
    this.#client.close();
    this.#view.status('forbidden');
    this.#view.notice(
      'forbidden',
      'This token may not read the dashboard channels.',
      `Subscribing to ${channel} was refused (4003). The dashboard needs a token with the analytics:read scope (or admin), or a channels claim covering system:*.`,
    );
  }
}

function main(): void {
  const root = document.getElementById('app') ?? document.body.appendChild(document.createElement('div'));
  const view = new DashboardView(root);
  let session: Session | undefined;
  let token: string | undefined;

  const open = () => {
    const next = tokenFromHash(location.hash);
    if (next === token && session) return;
    token = next;
    session?.close();
    session = undefined;
    if (!token) {
      view.status('no-token');
      view.notice(
        'no-token',
        'No token.',
        'Open this page as /dashboard#token=<JWT with the analytics:read scope>. The fragment never leaves your browser.',
      );
      return;
    }
    session = new Session(view, token);
    session.start();
  };
  // A new token in the fragment reconnects with it, without a reload.
  window.addEventListener('hashchange', open);
  open();
}

main();

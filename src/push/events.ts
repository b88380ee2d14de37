import { boundedCache } from '../core/cache/index.ts';
import type { Store } from '../core/store/index.ts';
import type { SendTimeModel } from './sendtime/index.ts';

/** The part of a stream event this handler reads (structurally the event stream's `StreamEvent`). */
interface OpenEvent {
  type: string;
  userId: string;
  ts: number;
  data: Record<string, unknown>;
}

/**
 * The push capability's stream handler (the event stream runs it like its own):
 * `notification.opened` counts an open for the experiment variant that was sent, and
 * `app.opened` / `notification.opened` teach the send-time model the user's hours, in the
 * user's time zone, when the user allows personalization (CONSENT_DEFAULT otherwise).
 * State (the model) is rebuilt on replay; store writes happen once, on the owner node.
 */
export class PushEventsHandler {
  readonly name = 'push';
  readonly types: ReadonlySet<string> = new Set(['notification.opened', 'app.opened']);
  readonly #store: () => Store | undefined;
  readonly #model: () => SendTimeModel | undefined;
  readonly #consentDefault: boolean;
  /** userId → [time zone, personalization allowed]; bounded, refreshed when a user's settings change. */
  readonly #users = boundedCache<string, [string, boolean]>(100_000);

  constructor(opts: {
    store: () => Store | undefined;
    model: () => SendTimeModel | undefined;
    consentDefault: 'granted' | 'denied';
  }) {
    this.#store = opts.store;
    this.#model = opts.model;
    this.#consentDefault = opts.consentDefault === 'granted';
  }

  /**
   * Stream snapshots: the send-time model is state the log rebuilds (its columns:
   * `snapshotColumns()`, no object per user); the time-zone/consent cache is not (asked again).
   */
  snapshot(): unknown {
    return { kind: 'push', version: 2, sendTime: this.#model()?.snapshotColumns() ?? null };
  }

  /** Replaces the send-time model's state (validated by the model: a bad one throws, nothing changes). */
  restore(state: unknown): void {
    const s = state as { kind?: unknown; version?: unknown; sendTime?: unknown } | null;
    if (!s || s.kind !== 'push' || s.version !== 2)
      throw new TypeError('not a push handler snapshot of version 2');
    const model = this.#model();
    if (model && s.sendTime !== null) model.restoreColumns(s.sendTime);
    else if (model) model.restore({ version: 1, halfLifeMs: model.options.halfLifeMs, users: [] });
  }

  /** GDPR erasure through the stream (also on nodes that reach a Kafka erasure marker). */
  forget(userId: string): void {
    this.#model()?.forget(userId);
    this.invalidate(userId);
  }

  /** Forget what is cached about a user (preferences, devices or consent changed; erasure). */
  invalidate(userId: string): void {
    this.#users.delete(userId);
  }

  async handle(event: OpenEvent, ctx: { replay: boolean; owner: boolean }): Promise<void> {
    const store = this.#store();
    if (!store) return;
    if (event.type === 'notification.opened' && !ctx.replay && ctx.owner) {
      const id = event.data['notificationId'];
      if (typeof id === 'string') await store.experiments.markOpened(id);
    }
    const model = this.#model();
    if (!model) return;
    const [tz, personalize] = await this.#user(store, event.userId);
    if (personalize)
      model.observe(event.userId, event.ts, event.type as 'app.opened' | 'notification.opened', tz);
  }

  async #user(store: Store, userId: string): Promise<[string, boolean]> {
    const hit = this.#users.get(userId);
    if (hit) return hit;
    const [prefs, consent] = await Promise.all([store.preferences.get(userId), store.consent.get(userId)]);
    const tz =
      prefs?.timezone ?? (await store.devices.listByUser(userId)).find((d) => d.timezone)?.timezone ?? 'UTC';
    const entry: [string, boolean] = [tz, consent ? consent.personalization : this.#consentDefault];
    this.#users.set(userId, entry);
    return entry;
  }
}

import { assertOwnUser } from '../core/auth/index.ts';
import {
  BackbeatError,
  BadRequestError,
  ForbiddenError,
  RateLimitedError,
  UnauthorizedError,
  UnavailableError,
} from '../core/errors/index.ts';
import type { Connection } from './connection.ts';
import type { CommandContext as Gateway } from './context.ts';
import type { Command, CommandOf } from './protocol/index.ts';
import type { PublishResult } from './channels.ts';
import type { RateDecision } from './engines/ports.ts';
import { messageFrame, wirePublication } from './hub.ts';

/**
 * One handler per backbeat.v1 command. Each replies exactly once (its success reply
 * here, or an error reply from the caller's catch) and leaves state unchanged on error.
 */
/** Commands a client may pipeline behind `connect` before its reply, unless configured. */
const DEFAULT_MAX_HELD_COMMANDS = 32;

/**
 * Runs one command. Returns a promise when the command waits for something (tokens,
 * engines doing I/O), or nothing when it was answered synchronously: a publish on the
 * in-process engines is parsed, checked, appended, fanned out and acknowledged within the
 * frame's own event, without a promise or microtask hop. A synchronous failure throws.
 */
export function handleCommand(gw: Gateway, conn: Connection, cmd: Command): Promise<void> | undefined {
  if (cmd.type === 'connect') return connect(gw, conn, cmd);
  if (conn.state === 'authenticating') {
    // Pipelining behind `connect` is bounded: past the bound it is a rate condition, not
    // an authentication failure — the command gets 4029 and the connection goes on.
    const max = gw.opts.maxCommandsBeforeConnect ?? DEFAULT_MAX_HELD_COMMANDS;
    if ((conn.held?.length ?? 0) >= max) {
      throw new BackbeatError(
        'RATE_LIMITED',
        `too many commands sent before connect completed (max ${max}): wait for connected`,
      );
    }
    (conn.held ??= []).push(cmd);
    return;
  }
  if (conn.state !== 'connected') {
    gw.replyError(conn, cmd.id, new UnauthorizedError('connect first'), cmd.type);
    gw.disconnect(conn, 4001, 'unauthorized');
    return;
  }
  if (gw.opts.userRateLimitCommands > 0) {
    // Cluster-wide per user: every connection of the user, on every node, shares the window.
    // Memory answers synchronously, Redis with a promise; within one connection it is always
    // the same, so commands keep their order.
    const rule = { limit: gw.opts.userRateLimitCommands, windowMs: gw.opts.userRateLimitWindowMs };
    const pending = gw.deps.engines.rateLimiter.consume(`user:${conn.user!}`, rule);
    if (pending instanceof Promise) return afterUserLimit(gw, conn, cmd, pending);
    userLimit(gw, pending);
  }
  return run(gw, conn, cmd);
}

function userLimit(gw: Gateway, d: RateDecision): void {
  if (!d.allowed) {
    gw.metrics.rateLimited.inc();
    throw new RateLimitedError(d.retryAfterMs);
  }
}

async function afterUserLimit(
  gw: Gateway,
  conn: Connection,
  cmd: Command,
  pending: Promise<RateDecision>,
): Promise<void> {
  userLimit(gw, await gw.deps.breaker.call(() => pending));
  return run(gw, conn, cmd);
}

function run(gw: Gateway, conn: Connection, cmd: Command): Promise<void> | undefined {
  switch (cmd.type) {
    case 'subscribe':
      return subscribe(gw, conn, cmd);
    case 'unsubscribe':
      return unsubscribe(gw, conn, cmd);
    case 'publish':
      return publish(gw, conn, cmd);
    case 'presence':
      return presence(gw, conn, cmd);
    case 'history':
      return history(gw, conn, cmd);
    case 'ping':
      ok(gw, conn, 'ping', { id: cmd.id, type: 'pong' });
      return;
    case 'refresh':
      return refresh(gw, conn, cmd);
    case 'event':
      return event(gw, conn, cmd);
    case 'connect': // handled before any of these
      return;
  }
}

function ok(gw: Gateway, conn: Connection, type: string, reply: Record<string, unknown>): void {
  gw.metrics.commandOk(type);
  gw.reply(conn, reply);
}

function ttlSeconds(gw: Gateway, conn: Connection): number {
  return Math.max(0, Math.floor((conn.principal!.expiresAt - gw.deps.clock.now()) / 1000));
}

function scheduleExpiry(gw: Gateway, conn: Connection): void {
  gw.expiry.schedule(conn, conn.principal!.expiresAt);
}

async function connect(gw: Gateway, conn: Connection, cmd: CommandOf<'connect'>): Promise<void> {
  if (conn.state === 'connected' || conn.state === 'authenticating') {
    throw new BackbeatError(
      'BAD_REQUEST',
      conn.state === 'connected' ? 'already connected' : 'connect already in progress',
    );
  }
  conn.setState('authenticating');
  try {
    await establish(gw, conn, cmd);
  } catch (err) {
    // A failed connect closes the connection with the error's code (4001 for bad tokens).
    const e = gw.replyError(conn, cmd.id, err, 'connect');
    gw.disconnect(
      conn,
      e.wsCode === 4400 ? 4001 : e.wsCode,
      e.key === 'UNAUTHORIZED' ? 'unauthorized' : e.message,
    );
    return;
  }
  // Commands pipelined behind `connect` were held while it ran; serve them in order now.
  const held = conn.held;
  conn.held = undefined;
  if (held && conn.isOpen) for (const c of held) gw.dispatch(conn, c);
}

async function establish(gw: Gateway, conn: Connection, cmd: CommandOf<'connect'>): Promise<void> {
  const { verifier, engines } = gw.deps;
  const principal = await verifier.verify(cmd.token);
  if (!conn.isOpen) return;
  const slotKey = `conns:${principal.user}`;
  const slot = await gw.deps.breaker.call(() =>
    engines.rateLimiter.acquireSlot(slotKey, conn.id, gw.opts.maxConnectionsPerUser),
  );
  if (!conn.isOpen) {
    if (slot) await engines.rateLimiter.releaseSlot(slotKey, conn.id);
    return;
  }
  if (!slot)
    throw new BackbeatError(
      'RATE_LIMITED',
      `too many connections for user (max ${gw.opts.maxConnectionsPerUser})`,
    );
  conn.connectTimer?.cancel();
  conn.connectTimer = undefined; // drop the timer and its closure: idle connections stay small
  conn.principal = principal;
  conn.setState('connected');
  gw.trackUser(conn);
  scheduleExpiry(gw, conn);
  conn.resumable = true;

  const restoredSubs = [];
  if (cmd.session !== undefined) {
    const record = await engines.sessions.take(cmd.session, principal.user).catch(() => undefined);
    if (record) {
      for (const [channel, s] of Object.entries(record.channels)) {
        if (principal.canSubscribe(channel)) restoredSubs.push({ channel, ...s });
      }
    }
  }
  const reply: Record<string, unknown> = {
    id: cmd.id,
    type: 'connected',
    client: conn.id,
    user: principal.user,
    node: gw.opts.nodeId,
    session: gw.sessionOf(conn),
    ttl: ttlSeconds(gw, conn),
    ping: Math.round(gw.opts.pingIntervalMs / 1000),
  };
  if (restoredSubs.length === 0) {
    ok(gw, conn, 'connect', reply);
    return;
  }
  // Resume: restore each subscription, recovering from the last offset this server
  // delivered on it. Missed publications follow the reply as ordinary `message` pushes.
  const restored: Record<string, unknown> = {};
  const live = [];
  for (const s of restoredSubs) {
    try {
      const { sub, page } = await gw.hub.subscribe(
        conn,
        s.channel,
        s.presence,
        { offset: s.offset, epoch: s.epoch },
        gw.opts.historySize,
      );
      await engines.presence.add(s.channel, { user: principal.user, client: conn.id });
      const sameEpoch = page.position.epoch === s.epoch;
      restored[s.channel] = {
        offset: page.position.offset,
        epoch: page.position.epoch,
        recovered: sameEpoch && page.complete,
        since: s.offset,
      };
      live.push({ sub, publications: sameEpoch ? page.publications : [] });
    } catch (err) {
      gw.deps.logger.warn({ err, channel: s.channel }, 'session channel not restored');
    }
  }
  reply['subscriptions'] = restored;
  ok(gw, conn, 'connect', reply);
  for (const { sub, publications } of live) {
    for (const p of publications) gw.send(conn, messageFrame(sub.channel, p));
    gw.hub.activate(sub);
    engines.broker
      .publishJoin(sub.channel, { user: principal.user, client: conn.id })
      .catch((err: unknown) => gw.deps.logger.warn({ err }, 'join publish failed'));
  }
}

async function subscribe(gw: Gateway, conn: Connection, cmd: CommandOf<'subscribe'>): Promise<void> {
  const p = conn.principal!;
  if (!p.canSubscribe(cmd.channel)) throw new ForbiddenError(`not allowed to subscribe to ${cmd.channel}`);
  if (conn.subs?.has(cmd.channel))
    throw new BackbeatError('BAD_REQUEST', `already subscribed to ${cmd.channel}`);
  if ((conn.subs?.size ?? 0) >= gw.opts.maxSubscriptionsPerConnection) {
    throw new BackbeatError(
      'BAD_REQUEST',
      `too many subscriptions (max ${gw.opts.maxSubscriptionsPerConnection})`,
    );
  }
  const { engines } = gw.deps;
  const info = { user: p.user, client: conn.id };
  const { sub, page } = await gw.hub.subscribe(
    conn,
    cmd.channel,
    cmd.presence === true,
    cmd.recover,
    gw.opts.historySize,
  );
  // An unsubscribe or a close may have overtaken this subscribe while the engines answered.
  const cancelled = (): boolean => !conn.isOpen || conn.subs?.get(cmd.channel) !== sub;
  if (cancelled()) {
    gw.hub.remove(sub);
    throw new BackbeatError('BAD_REQUEST', `subscription to ${cmd.channel} was cancelled while subscribing`);
  }
  try {
    await gw.deps.breaker.call(() => engines.presence.add(cmd.channel, info));
  } catch (err) {
    gw.hub.remove(sub);
    throw err;
  }
  if (cancelled()) {
    gw.hub.remove(sub);
    await engines.presence.remove(cmd.channel, conn.id);
    throw new BackbeatError('BAD_REQUEST', `subscription to ${cmd.channel} was cancelled while subscribing`);
  }
  // Publications of another epoch mean nothing relative to the client's position: none.
  const sameEpoch = cmd.recover !== undefined && cmd.recover.epoch === page.position.epoch;
  ok(gw, conn, 'subscribe', {
    id: cmd.id,
    type: 'subscribed',
    channel: cmd.channel,
    offset: page.position.offset,
    epoch: page.position.epoch,
    recovered: sameEpoch && page.complete,
    publications: sameEpoch ? page.publications.map(wirePublication) : [],
  });
  gw.hub.activate(sub);
  engines.broker
    .publishJoin(cmd.channel, info)
    .catch((err: unknown) => gw.deps.logger.warn({ err }, 'join publish failed'));
}

async function unsubscribe(gw: Gateway, conn: Connection, cmd: CommandOf<'unsubscribe'>): Promise<void> {
  const sub = conn.subs?.get(cmd.channel);
  if (sub) {
    gw.hub.remove(sub);
    const { engines } = gw.deps;
    const info = { user: conn.user!, client: conn.id };
    await gw.deps.breaker.call(() => engines.presence.remove(cmd.channel, conn.id));
    engines.broker
      .publishLeave(cmd.channel, info)
      .catch((err: unknown) => gw.deps.logger.warn({ err }, 'leave publish failed'));
  }
  ok(gw, conn, 'unsubscribe', { id: cmd.id, type: 'unsubscribed', channel: cmd.channel });
}

function publish(gw: Gateway, conn: Connection, cmd: CommandOf<'publish'>): Promise<void> | undefined {
  if (!conn.principal!.canPublish(cmd.channel))
    throw new ForbiddenError(`not allowed to publish to ${cmd.channel}`);
  const res = gw.channels.publishNow(cmd.channel, cmd.data, { user: conn.user!, client: conn.id }, 'ws');
  if (res instanceof Promise) return res.then((r) => published(gw, conn, cmd, r));
  published(gw, conn, cmd, res);
  return undefined;
}

function published(gw: Gateway, conn: Connection, cmd: CommandOf<'publish'>, res: PublishResult): void {
  ok(gw, conn, 'publish', { id: cmd.id, type: 'published', channel: cmd.channel, offset: res.offset });
}

async function presence(gw: Gateway, conn: Connection, cmd: CommandOf<'presence'>): Promise<void> {
  if (!conn.principal!.canSubscribe(cmd.channel))
    throw new ForbiddenError(`not allowed to read presence of ${cmd.channel}`);
  const clients = await gw.channels.presence(cmd.channel);
  ok(gw, conn, 'presence', { id: cmd.id, type: 'presence', channel: cmd.channel, clients });
}

async function history(gw: Gateway, conn: Connection, cmd: CommandOf<'history'>): Promise<void> {
  if (!conn.principal!.canSubscribe(cmd.channel))
    throw new ForbiddenError(`not allowed to read history of ${cmd.channel}`);
  const page = await gw.channels.history(cmd.channel, cmd.since, cmd.limit);
  ok(gw, conn, 'history', {
    id: cmd.id,
    type: 'history',
    channel: cmd.channel,
    offset: page.position.offset,
    epoch: page.position.epoch,
    publications: page.publications.map(wirePublication),
  });
}

async function refresh(gw: Gateway, conn: Connection, cmd: CommandOf<'refresh'>): Promise<void> {
  const principal = await gw.deps.verifier.verify(cmd.token);
  if (principal.user !== conn.user) throw new UnauthorizedError('refresh token is for another user');
  conn.principal = principal;
  scheduleExpiry(gw, conn);
  ok(gw, conn, 'refresh', { id: cmd.id, type: 'refreshed', ttl: ttlSeconds(gw, conn) });
}

/**
 * `event`: one event of SPEC §5 into the stream. A client token may send events only
 * about its own user (a missing `userId` is filled in); a token with the `events:write`
 * scope may send any user's. The reply comes once the event is durable in the log.
 */
async function event(gw: Gateway, conn: Connection, cmd: CommandOf<'event'>): Promise<void> {
  const sink = gw.deps.events;
  if (!sink) throw new UnavailableError('the event stream is not enabled on this server');
  const service = conn.principal!.hasScope('events:write');
  const userId = (cmd.event as { userId?: unknown }).userId;
  if (typeof userId === 'string') assertOwnUser(conn.user!, userId, service, 'events:write');
  const res = await sink.accept(
    [cmd.event],
    service ? { source: 'ws' } : { source: 'ws', ownUser: conn.user! },
  );
  const rejected = res.rejected[0];
  if (rejected) throw new BadRequestError(rejected.error);
  const accepted = res.ids[0]!;
  ok(gw, conn, 'event', {
    id: cmd.id,
    type: 'accepted',
    eventId: accepted.id,
    ...(accepted.duplicate ? { duplicate: true } : {}),
  });
}

import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import {
  BackbeatError,
  ErrorCodes,
  rawErrorResponse,
  RateLimitedError,
  toBackbeatError,
  type ErrorCodeKey,
} from '../core/errors/index.ts';
import type { TimerHandle } from '../core/time/index.ts';
import { ChannelService } from './channels.ts';
import { handleCommand } from './commands.ts';
import { Connection } from './connection.ts';
import { ExpiryWheel } from './expiry.ts';
import type { ControlMessage, RateRule } from './engines/ports.ts';
import { Hub, type FrameSender } from './hub.ts';
import { GatewayMetrics } from './metrics.ts';
import { CorkScheduler, WireFrame } from './outbound.ts';
import { parseCommand, type Command, type ParseResult } from './protocol/index.ts';
import { GatewaySocket } from './socket.ts';
import type { CommandContext } from './context.ts';
import type { GatewayDeps, GatewayOptions } from './options.ts';

export type { GatewayDeps, GatewayOptions };

/** The one WebSocket subprotocol this gateway speaks (SPEC §3). */
export const SUBPROTOCOL = 'backbeat.v1';

/** Close codes after which a client should not reconnect as it is (bad token, bad input). */
const NO_RECONNECT = new Set([4001, 4003, 4013]);
const CONN = Symbol('backbeat.connection');
const OPEN = WebSocket.OPEN;
/** How long a peer has to complete the closing handshake before it is cut off. */
const CLOSE_GRACE_MS = 5000;
type TaggedSocket = WebSocket & { [CONN]?: Connection };

/**
 * The WebSocket gateway (backbeat.v1). Owns the connections of this node; talks to the
 * engines only through the ChannelService and the Hub. Listeners are shared functions
 * (not per-connection closures) to keep idle connections small.
 */
export class Gateway implements FrameSender, CommandContext {
  readonly opts: GatewayOptions;
  readonly deps: GatewayDeps;
  readonly channels: ChannelService;
  readonly hub: Hub;
  /** `backbeat_gateway_*`, registered on the app's registry. */
  readonly metrics: GatewayMetrics;
  readonly connections = new Set<Connection>();
  readonly #byUser = new Map<string, Set<Connection>>();
  readonly #wss: WebSocketServer;
  readonly #cork = new CorkScheduler();
  readonly #pingTimer: TimerHandle;
  readonly expiry: ExpiryWheel<Connection>;
  #accepting = true;
  readonly #sessionKey = randomBytes(32);
  /** The per-connection command limit (RATE_LIMIT_COMMANDS per RATE_LIMIT_WINDOW_MS). */
  readonly #rule: RateRule;
  /** Socket listeners, shared by every connection of this gateway (no per-connection closures). */
  readonly #listeners = (() => {
    // `this` inside each listener is the socket (ws calls listeners with it); the gateway
    // is captured once here, not once per connection.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const gw = this;
    return {
      message: function (this: TaggedSocket, data: Buffer, isBinary: boolean) {
        const conn = this[CONN];
        if (conn) gw.onFrame(conn, data, isBinary);
      },
      close: function (this: TaggedSocket, code: number) {
        const conn = this[CONN];
        if (conn) gw.onClose(conn, code);
      },
      error: function (this: TaggedSocket, err: Error) {
        gw.deps.logger.debug({ err, client: this[CONN]?.id }, 'websocket error');
      },
    };
  })();

  constructor(opts: GatewayOptions, deps: GatewayDeps) {
    this.opts = opts;
    this.deps = deps;
    this.metrics = new GatewayMetrics(deps.metrics.registry);
    this.#rule = { limit: opts.rateLimitCommands, windowMs: opts.rateLimitWindowMs };
    this.channels = new ChannelService({
      engines: deps.engines,
      breaker: deps.breaker,
      metrics: this.metrics,
      clock: deps.clock,
      historySize: opts.historySize,
    });
    this.hub = new Hub({
      broker: deps.engines.broker,
      history: deps.engines.history,
      sender: this,
      metrics: this.metrics,
      logger: deps.logger,
    });
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxMessageBytes,
      // No compression: frames are encoded once and the same bytes go to every subscriber
      // (WireFrame); a negotiated permessage-deflate would need per-socket encoding.
      perMessageDeflate: false,
      clientTracking: false,
      WebSocket: GatewaySocket,
      // Offered subprotocols were checked in handleUpgrade: answer with ours, never another.
      handleProtocols: (offered: Set<string>) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.#pingTimer = deps.clock.setInterval(() => this.#pingAll(), opts.pingIntervalMs);
    this.expiry = new ExpiryWheel<Connection>(deps.clock, (conn) =>
      this.disconnect(conn, 4011, 'token expired', true),
    );
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Node HTTP `upgrade` handler for `GET /ws`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, reason: string, key: ErrorCodeKey, message: string): void => {
      socket.end(rawErrorResponse(status, reason, ErrorCodes[key].name, message));
    };
    if (!this.#accepting || this.connections.size >= this.opts.maxConnections) {
      return refuse(
        503,
        'Service Unavailable',
        'UNAVAILABLE',
        this.#accepting ? 'node at capacity: use GET /v1/connect for another' : 'server shutting down',
      );
    }
    // Subprotocol (decision, docs/protocol.md): a client that offers subprotocols must offer
    // backbeat.v1, which is then selected; one that offers none is served backbeat.v1 too.
    const offered = req.headers['sec-websocket-protocol'];
    if (offered !== undefined && !offered.split(',').some((p) => p.trim() === SUBPROTOCOL)) {
      return refuse(400, 'Bad Request', 'BAD_REQUEST', `unsupported subprotocol: offer ${SUBPROTOCOL}`);
    }
    const origin = req.headers.origin;
    const allowed = this.opts.allowedOrigins;
    if (
      origin !== undefined &&
      allowed !== undefined &&
      !allowed.includes(origin) &&
      !allowed.includes('*')
    ) {
      this.deps.logger.info({ origin }, 'websocket origin refused');
      return refuse(403, 'Forbidden', 'FORBIDDEN', 'origin not allowed (ALLOWED_ORIGINS)');
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
  }

  #accept(ws: WebSocket, req: IncomingMessage): void {
    // tsc types req.socket as Duplex-ish here; the upgrade socket is a net.Socket.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    const socket = req.socket as Socket;
    socket.setNoDelay(true);
    const conn = new Connection(randomUUID(), ws, socket);
    (ws as TaggedSocket)[CONN] = conn;
    this.connections.add(conn);
    this.metrics.connections.set(this.connections.size);
    this.metrics.connectionsTotal.inc();
    // The listeners take the socket as `this` on purpose (see #listeners).
    /* eslint-disable @typescript-eslint/unbound-method */
    ws.on('message', this.#listeners.message);
    ws.on('close', this.#listeners.close);
    ws.on('error', this.#listeners.error);
    /* eslint-enable @typescript-eslint/unbound-method */
    conn.connectTimer = this.deps.clock.setTimeout(() => {
      if (conn.state === 'connecting' || conn.state === 'authenticating')
        this.disconnect(conn, 4008, 'connect timeout');
    }, this.opts.connectTimeoutMs);
  }

  // ---- sending -------------------------------------------------------------------

  /** Queues one JSON text frame (see `write`). */
  send(conn: Connection, frame: Buffer | string): void {
    this.write(conn, new WireFrame(frame));
  }

  /**
   * Queues a frame encoded once for the wire (fan-out writes the same bytes to every
   * subscriber) on the connection's socket (written through or corked: CorkScheduler); false when the connection is closing
   * or was just closed 4009 because its queue would pass OUTBOUND_MAX_BYTES. Every data
   * frame goes through here, in call order, straight onto the socket.
   */
  write(conn: Connection, frame: WireFrame): boolean {
    // After a close handshake started (either side) no data frame may follow (RFC 6455 §5.5.1).
    if (!conn.isOpen || conn.ws.readyState !== OPEN) return false;
    if (conn.queuedBytes + frame.bytes.length > this.opts.outboundMaxBytes) {
      this.metrics.slowConsumerCloses.inc();
      this.deps.logger.warn(
        { client: conn.id, user: conn.user, queued: conn.queuedBytes },
        'slow consumer closed',
      );
      this.disconnect(conn, 4009, 'slow consumer');
      return false;
    }
    conn.writeTurn = this.#cork.prepare(conn.socket, conn.writeTurn);
    conn.socket.write(frame.bytes);
    return true;
  }

  reply(conn: Connection, msg: Record<string, unknown>): void {
    const frame = new WireFrame(JSON.stringify(msg));
    this.metrics.framesOut++;
    this.metrics.frameBytesOut += frame.payloadBytes;
    this.write(conn, frame);
  }

  replyError(conn: Connection, id: number | undefined, err: unknown, type = 'unknown'): BackbeatError {
    const e = toBackbeatError(err);
    if (e.key === 'INTERNAL') this.deps.logger.error({ err, client: conn.id, type }, 'command failed');
    this.deps.metrics.errors.labels(String(e.wsCode)).inc();
    this.metrics.commands.labels(type, String(e.wsCode)).inc();
    const msg: Record<string, unknown> = id === undefined ? {} : { id };
    Object.assign(msg, { type: 'error', code: e.wsCode, message: e.message }, e.details);
    this.reply(conn, msg);
    return e;
  }

  /** Sends the `disconnect` push, then closes with `code` (terminating if the peer never answers). */
  disconnect(conn: Connection, code: number, reason: string, reconnect = !NO_RECONNECT.has(code)): void {
    if (!conn.isOpen) return;
    if (code !== 4009) this.send(conn, JSON.stringify({ type: 'disconnect', code, reason, reconnect }));
    if (!conn.isOpen) return;
    conn.setState('closing');
    this.metrics.closes.labels(String(code)).inc();
    conn.ws.close(code, reason.slice(0, 120));
    // A peer that never completes the closing handshake is cut off.
    const t = setTimeout(() => conn.ws.terminate(), CLOSE_GRACE_MS);
    t.unref();
  }

  // ---- broker control ------------------------------------------------------------

  onControl(msg: ControlMessage): void {
    if (msg.type === 'disconnect-user') {
      for (const conn of [...(this.#byUser.get(msg.user) ?? [])])
        this.disconnect(conn, msg.code, msg.reason, msg.code === 1001 || msg.code >= 4500);
    }
  }

  resync(conn: Connection, channel: string): void {
    this.deps.logger.warn(
      { client: conn.id, channel },
      'subscriber out of sync; asking it to reconnect and recover',
    );
    this.disconnect(conn, 4500, `insufficient state on ${channel}: reconnect and recover`, true);
  }

  // ---- users ---------------------------------------------------------------------

  /**
   * The resume token of a connection: an HMAC of its id under a per-process key, so it is
   * unguessable (client ids are visible to others in presence) and not stored per connection.
   */
  sessionOf(conn: Connection): string {
    return createHmac('sha256', this.#sessionKey).update(conn.id).digest('base64url').slice(0, 27);
  }

  trackUser(conn: Connection): void {
    const user = conn.user!;
    let set = this.#byUser.get(user);
    if (!set) this.#byUser.set(user, (set = new Set()));
    set.add(conn);
  }

  // ---- inbound -------------------------------------------------------------------

  onFrame(conn: Connection, data: Buffer, isBinary: boolean): void {
    this.metrics.framesIn++;
    this.metrics.frameBytesIn += data.length;
    if (!conn.isOpen || conn.flooded) return;
    const parsed: ParseResult = isBinary
      ? {
          ok: false,
          id: undefined,
          type: undefined,
          message: 'binary frames are not supported; send JSON text frames',
        }
      : parseCommand(data.toString('utf8'), this.opts.maxJsonDepth);
    const id = parsed.ok ? parsed.cmd.id : parsed.id;
    const type = parsed.ok ? parsed.cmd.type : parsed.type;
    if (!this.#allow(conn, id, type)) return;
    if (!parsed.ok) {
      if (parsed.tooDeep) this.deps.metrics.jsonDepthRefused.labels('ws').inc();
      if (conn.state !== 'connected' && parsed.id !== undefined) {
        // Anything but a well-formed connect before connect: 4001 and close (SPEC §3).
        const why = parsed.type === 'connect' ? parsed.message : 'connect first';
        this.replyError(conn, parsed.id, new BackbeatError('UNAUTHORIZED', why), parsed.type);
        this.disconnect(conn, 4001, 'unauthorized');
        return;
      }
      this.replyError(conn, parsed.id, new BackbeatError('BAD_REQUEST', parsed.message), parsed.type);
      return;
    }
    this.dispatch(conn, parsed.cmd);
  }

  /**
   * Runs one parsed command; any failure becomes its one error reply. A command answered
   * synchronously (a publish on the memory engines) settles here, with no promise.
   */
  dispatch(conn: Connection, cmd: Command): void {
    conn.inflight++;
    let pending: Promise<void> | undefined;
    try {
      pending = handleCommand(this, conn, cmd);
    } catch (err) {
      this.replyError(conn, cmd.id, err, cmd.type);
    }
    if (pending) void this.#await(conn, cmd, pending);
    else this.#settled(conn);
  }

  /** One async frame per waiting command (no per-command closures); never rejects. */
  async #await(conn: Connection, cmd: Command, pending: Promise<void>): Promise<void> {
    try {
      await pending;
    } catch (err) {
      this.replyError(conn, cmd.id, err, cmd.type);
    }
    this.#settled(conn);
  }

  #settled(conn: Connection): void {
    if (--conn.inflight === 0 && conn.flooded) this.disconnect(conn, 4029, 'rate limit exceeded repeatedly');
  }

  /** Sliding-window command limit: over it, 4029 with retryAfterMs; sustained flooding closes 4029. */
  #allow(conn: Connection, id: number | undefined, type: string | undefined): boolean {
    const now = this.deps.clock.now();
    const rule = this.#rule;
    const d = conn.rate.consume(now, rule);
    if (d.allowed) return true;
    this.metrics.rateLimited.inc();
    if (now - conn.rejectedWindowStart > rule.windowMs) {
      conn.rejectedWindowStart = now;
      conn.rejected = 0;
    }
    if (++conn.rejected > this.opts.rateLimitCloseAfter) {
      // Every command accepted before the flood still gets its reply: stop reading, close
      // once they are answered (or after the close grace, should an engine hang).
      conn.flooded = true;
      if (conn.inflight === 0) this.disconnect(conn, 4029, 'rate limit exceeded repeatedly');
      else
        setTimeout(
          () => this.disconnect(conn, 4029, 'rate limit exceeded repeatedly'),
          CLOSE_GRACE_MS,
        ).unref();
      return false;
    }
    this.replyError(conn, id, new RateLimitedError(d.retryAfterMs), type);
    return false;
  }

  // ---- closing -------------------------------------------------------------------

  onClose(conn: Connection, code: number): void {
    conn.setState('closed');
    this.connections.delete(conn);
    this.metrics.connections.set(this.connections.size);
    conn.connectTimer?.cancel();
    this.expiry.remove(conn);
    const user = conn.user;
    if (user === undefined) return;
    const set = this.#byUser.get(user);
    set?.delete(conn);
    if (set?.size === 0) this.#byUser.delete(user);
    const subs = conn.subs ? [...conn.subs.values()] : [];
    const { engines, logger } = this.deps;
    const info = { user, client: conn.id };
    for (const sub of subs) {
      this.hub.remove(sub);
      engines.presence
        .remove(sub.channel, conn.id)
        .then(() => engines.broker.publishLeave(sub.channel, info))
        .catch((err: unknown) => logger.warn({ err, channel: sub.channel }, 'presence cleanup failed'));
    }
    engines.rateLimiter
      .releaseSlot(`conns:${user}`, conn.id)
      .catch((err: unknown) => logger.warn({ err, user }, 'slot release failed'));
    if (conn.resumable && code !== 4001 && code !== 4003) {
      const channels = Object.fromEntries(
        subs.map((s) => [s.channel, { presence: s.presence, offset: s.floor, epoch: s.epoch }]),
      );
      engines.sessions
        .save(this.sessionOf(conn), { user, channels }, this.opts.sessionTtlMs)
        .catch((err: unknown) => logger.warn({ err, user }, 'session save failed'));
    }
  }

  #pingAll(): void {
    for (const conn of this.connections) {
      // Pongs are not listened for (a listener per socket costs memory): any byte read
      // since the last ping, a pong included, shows the peer is alive.
      const read = conn.socket.bytesRead;
      if (read !== conn.bytesAtPing) conn.missedPongs = 0;
      else if (++conn.missedPongs >= 2) {
        conn.ws.terminate();
        continue;
      }
      conn.bytesAtPing = read;
      conn.ws.ping();
    }
  }

  /** Stops accepting new connections (used first thing on shutdown). */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /**
   * Sends every client `disconnect` 1001 (reconnect elsewhere) spread over `spreadMs` so
   * reconnects don't stampede the remaining nodes; resolves when all are closed or the
   * deadline passes, then terminates what is left.
   */
  async drain(spreadMs: number, deadlineMs: number): Promise<void> {
    this.stopAccepting();
    const conns = [...this.connections];
    const step = conns.length > 1 ? spreadMs / conns.length : 0;
    const started = Date.now();
    for (let i = 0; i < conns.length; i++) {
      const conn = conns[i]!;
      const at = started + i * step;
      const wait = at - Date.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      this.disconnect(conn, 1001, 'server shutting down', true);
    }
    const until = started + Math.max(deadlineMs, spreadMs);
    while (this.connections.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    for (const conn of this.connections) conn.ws.terminate();
  }

  async close(): Promise<void> {
    this.stopAccepting();
    this.#pingTimer.cancel();
    this.expiry.close();
    for (const conn of this.connections) conn.ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

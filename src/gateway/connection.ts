import type { WebSocket } from 'ws';
import type { Socket } from 'node:net';
import type { Principal } from '../core/auth/index.ts';
import type { TimerHandle } from '../core/time/index.ts';
import { SlidingWindowLog } from './engines/memory/index.ts';
import type { Command } from './protocol/index.ts';
import type { WireFrame } from './outbound.ts';

/** Per-connection lifecycle (SPEC §3): a connection serves commands only when `connected`. */
export type ConnectionState = 'connecting' | 'authenticating' | 'connected' | 'closing' | 'closed';

export const CONNECTION_TRANSITIONS: Record<ConnectionState, readonly ConnectionState[]> = {
  connecting: ['authenticating', 'closing', 'closed'],
  authenticating: ['connected', 'closing', 'closed'],
  connected: ['closing', 'closed'],
  closing: ['closed'],
  closed: [],
};

/** A publication's frame (encoded once for every subscriber) with its offset. */
export interface PendingFrame {
  offset: number;
  frame: WireFrame;
}

/** One connection's subscription to one channel. */
export interface Subscription {
  readonly conn: Connection;
  readonly channel: string;
  readonly presence: boolean;
  /** Offset of the last publication delivered (or covered by the subscribe reply). */
  floor: number;
  epoch: string;
  /** Non-null while subscribing: live publications held until the reply is sent. */
  pending: PendingFrame[] | null;
}

/**
 * State of one WebSocket client. Deliberately small (no closures, lazily created maps):
 * idle connections must cost a few KiB (bench: RSS per idle connection).
 */
export class Connection {
  readonly id: string;
  readonly ws: WebSocket;
  readonly socket: Socket;
  state: ConnectionState = 'connecting';
  principal: Principal | undefined;
  /** Set once connected: the connection's session can be resumed after it closes. */
  resumable = false;
  subs: Map<string, Subscription> | undefined;
  connectTimer: TimerHandle | undefined;
  /** Token-expiry bucket in the gateway's ExpiryWheel (0 = none). */
  expiryBucket = 0;
  readonly rate = new SlidingWindowLog();
  /** Rejected commands in the current rate window, for the close-on-flood rule. */
  rejected = 0;
  rejectedWindowStart = 0;
  missedPongs = 0;
  /** socket.bytesRead at the last ping: any byte since (a pong included) proves the peer alive. */
  bytesAtPing = 0;
  /** The CorkScheduler turn of the last frame written to this connection (0: none yet). */
  writeTurn = 0;
  /** Commands received while `connect` was being verified, served in order after it. */
  held: Command[] | undefined;
  /** Commands dispatched whose reply has not been sent yet. */
  inflight = 0;
  /**
   * Set when the client flooded past the rate limit: its further frames are ignored and
   * it is closed 4029 as soon as every command already accepted has had its reply.
   */
  flooded = false;

  constructor(id: string, ws: WebSocket, socket: Socket) {
    this.id = id;
    this.ws = ws;
    this.socket = socket;
  }

  get user(): string | undefined {
    return this.principal?.user;
  }

  get isOpen(): boolean {
    return this.state !== 'closing' && this.state !== 'closed';
  }

  /** Bytes queued for this client: corked frames plus the socket's write buffer. */
  get queuedBytes(): number {
    return this.ws.bufferedAmount;
  }

  /** Moves to `to` when CONNECTION_TRANSITIONS allows it. */
  setState(to: ConnectionState): boolean {
    if (this.state === to) return true;
    if (!CONNECTION_TRANSITIONS[this.state].includes(to)) return false;
    this.state = to;
    return true;
  }
}

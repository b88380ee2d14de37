import type { ChannelService } from './channels.ts';
import type { Connection } from './connection.ts';
import type { GatewayDeps, GatewayOptions } from './options.ts';
import type { Hub } from './hub.ts';
import type { ExpiryWheel } from './expiry.ts';
import type { BackbeatError } from '../core/errors/index.ts';
import type { Command } from './protocol/index.ts';
import type { GatewayMetrics } from './metrics.ts';

/** What command handlers may use of the gateway (it implements this); keeps commands.ts free of gateway.ts. */
export interface CommandContext {
  readonly opts: GatewayOptions;
  readonly deps: GatewayDeps;
  readonly channels: ChannelService;
  readonly hub: Hub;
  readonly metrics: GatewayMetrics;
  readonly expiry: ExpiryWheel<Connection>;
  send(conn: Connection, frame: Buffer | string): void;
  reply(conn: Connection, msg: Record<string, unknown>): void;
  replyError(conn: Connection, id: number | undefined, err: unknown, type?: string): BackbeatError;
  disconnect(conn: Connection, code: number, reason: string, reconnect?: boolean): void;
  trackUser(conn: Connection): void;
  sessionOf(conn: Connection): string;
  dispatch(conn: Connection, cmd: Command): void;
}

import { WebSocket } from 'ws';

/**
 * `ws` closes a connection whose frame exceeds `maxPayload` with 1009; backbeat.v1 says
 * 4013 (SPEC §3). ws lets a server choose its WebSocket class, so the mapping lives
 * here, in one place, instead of patching instances.
 */
export class GatewaySocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    if (code === 1009) super.close(4013, 'message too large');
    else super.close(code, data);
  }
}

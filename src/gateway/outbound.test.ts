import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { WireFrame } from './outbound.ts';

/**
 * WireFrame bytes are written straight to sockets, past ws's sender: a real ws client must
 * read them as the text messages they carry, at every payload-length encoding (7-bit,
 * 16-bit and 64-bit, RFC 6455 §5.2), in order with frames ws itself sends.
 */
describe('WireFrame', () => {
  let wss: WebSocketServer;
  let port: number;
  beforeAll(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((r) => wss.once('listening', r));
    port = (wss.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => wss.close(() => r()));
  });

  it('is read by a ws client as the text message it carries, around every length boundary', async () => {
    const sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000];
    const payloads = sizes.map((n, i) => JSON.stringify({ i, pad: 'x'.repeat(Math.max(0, n - 20)) }));
    const received: string[] = [];
    const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    const done = new Promise<void>((resolve) =>
      client.on('message', (data: Buffer, isBinary: boolean) => {
        expect(isBinary).toBe(false);
        received.push(data.toString());
        if (received.length === payloads.length + 1) resolve();
      }),
    );
    const [server] = (await Promise.all([
      new Promise((r) => wss.once('connection', r)),
      new Promise((r) => client.once('open', r)),
    ])) as [WebSocket, unknown];
    const socket = (server as unknown as { _socket: Socket })._socket;
    socket.cork();
    for (const p of payloads) socket.write(new WireFrame(Buffer.from(p)).bytes);
    server.send('after, through ws'); // interleaves in call order with ws's own frames
    socket.uncork();
    await done;
    expect(received).toEqual([...payloads, 'after, through ws']);
    expect(new WireFrame(Buffer.from('abc')).payloadBytes).toBe(3);
    client.close();
  });
});

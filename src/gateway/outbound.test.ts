import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { CorkScheduler, WireFrame } from './outbound.ts';

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
    const payloads = sizes.flatMap((n, i) => [
      JSON.stringify({ i, pad: 'x'.repeat(Math.max(0, n - 20)) }),
      JSON.stringify({ i, pad: 'é♪'.repeat(Math.max(0, Math.floor((n - 20) / 5))) }),
    ]);
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
    // Half from bytes, half from strings (encoded straight into the frame), multi-byte text included.
    for (const [i, p] of payloads.entries()) socket.write(new WireFrame(i % 2 ? p : Buffer.from(p)).bytes);
    server.send('after, through ws'); // interleaves in call order with ws's own frames
    socket.uncork();
    await done;
    expect(received).toEqual([...payloads, 'after, through ws']);
    expect(new WireFrame(Buffer.from('abc')).payloadBytes).toBe(3);
    expect(new WireFrame('a♪').payloadBytes).toBe(4);
    for (const p of payloads) expect(new WireFrame(p).bytes).toEqual(new WireFrame(Buffer.from(p)).bytes);
    client.close();
  });
});

describe('CorkScheduler', () => {
  /** The part of a net.Socket the scheduler uses. */
  const fakeSocket = () => {
    const s = {
      writableCorked: 0,
      cork: () => void s.writableCorked++,
      uncork: () => void s.writableCorked--,
    };
    return s as unknown as Socket & { writableCorked: number };
  };
  const nextTurn = () => new Promise((r) => setImmediate(r));

  it('writes a cold socket through, corks it for a second frame in the turn and while it stays hot', async () => {
    const cork = new CorkScheduler();
    const a = fakeSocket();
    let turnA = cork.prepare(a, 0);
    expect(a.writableCorked).toBe(0); // cold: first frame written through
    turnA = cork.prepare(a, turnA);
    expect(a.writableCorked).toBe(1); // second frame in the same turn: coalesced
    turnA = cork.prepare(a, turnA);
    expect(a.writableCorked).toBe(1); // corked once per turn
    await nextTurn();
    expect(a.writableCorked).toBe(0); // uncorked at the end of the turn
    turnA = cork.prepare(a, turnA);
    expect(a.writableCorked).toBe(1); // frames turn after turn: hot, corked from the first
    await nextTurn();
    expect(a.writableCorked).toBe(0);
    await nextTurn(); // a turn without frames for it
    const b = fakeSocket();
    cork.prepare(b, 0); // (another socket's write makes this a turn with writes)
    await nextTurn();
    cork.prepare(a, turnA);
    expect(a.writableCorked).toBe(0); // cold again: written through
    await nextTurn();
  });
});

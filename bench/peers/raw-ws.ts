/**
 * Benchmark peer: the smallest useful pub/sub server on raw `ws` (the Node ceiling).
 * `--corked` coalesces each socket's frames into one write per event-loop turn
 * (socket.cork() on first send, uncork on setImmediate), like Backbeat's gateway.
 * Protocol (JSON text frames): {"type":"subscribe","channel"} → {"type":"subscribed"};
 * {"type":"publish","id","channel","data"} → fan-out {"type":"message","channel","data"}
 * to every subscriber, then {"type":"published","id"}. Prints `READY <port>`.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { Socket } from 'node:net';

const corked = process.argv.includes('--corked');
const channels = new Map<string, Set<WebSocket>>();
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
  clientTracking: false,
});

let dirty: Socket[] = [];
let scheduled = false;
function flush(): void {
  const d = dirty;
  dirty = [];
  scheduled = false;
  for (const s of d) s.uncork();
}
function send(ws: WebSocket, frame: Buffer): void {
  if (corked) {
    const s = (ws as unknown as { _socket: Socket })._socket;
    if (s.writableCorked === 0) {
      s.cork();
      dirty.push(s);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    }
  }
  ws.send(frame, { binary: false });
}

wss.on('connection', (ws) => {
  const mine = new Set<string>();
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString()) as { type: string; id?: number; channel: string; data?: unknown };
    if (m.type === 'subscribe') {
      let set = channels.get(m.channel);
      if (!set) channels.set(m.channel, (set = new Set()));
      set.add(ws);
      mine.add(m.channel);
      send(ws, Buffer.from('{"type":"subscribed"}'));
    } else if (m.type === 'publish') {
      const frame = Buffer.from(JSON.stringify({ type: 'message', channel: m.channel, data: m.data }));
      for (const s of channels.get(m.channel) ?? []) send(s, frame);
      send(ws, Buffer.from(JSON.stringify({ type: 'published', id: m.id })));
    }
  });
  ws.on('close', () => {
    for (const ch of mine) channels.get(ch)?.delete(ws);
  });
});
wss.on('listening', () => console.log(`READY ${(wss.address() as { port: number }).port}`));

// Memory measurements (bench/loadgen.ts): SIGUSR2 runs a full GC so RSS reflects live memory.
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
process.on('SIGUSR1', () => {
  const m = process.memoryUsage();
  console.log(`MEM heap=${m.heapUsed} rss=${m.rss} external=${m.external} arrayBuffers=${m.arrayBuffers}`);
});
// SIGINT: a clean exit (so `--cpu-prof` can write its profile); the runner uses SIGKILL otherwise.
process.on('SIGINT', () => process.exit(0));

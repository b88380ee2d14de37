/**
 * Benchmark peer: Socket.IO 4 with rooms (websocket transport only, no long-polling).
 * Events: "subscribe"(channel, ack) joins a room; "publish"({channel,data}, ack) emits
 * "message" {channel,data} to the room. With `--redis URL` it uses @socket.io/redis-adapter
 * (the cluster peer). Prints `READY <port>`.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
// `--redis URL`: the cluster peer, Socket.IO's own Redis adapter on the same Redis as Backbeat.
const redisArg = process.argv.indexOf('--redis');
if (redisArg > 0) {
  const pub = new Redis(process.argv[redisArg + 1]!);
  io.adapter(createAdapter(pub, pub.duplicate()));
}
io.on('connection', (socket) => {
  socket.on('subscribe', (channel: string, ack?: () => void) => {
    void socket.join(channel);
    ack?.();
  });
  socket.on('publish', (m: { channel: string; data: unknown }, ack?: () => void) => {
    io.to(m.channel).emit('message', m);
    ack?.();
  });
});
http.listen(0, '127.0.0.1', () => console.log(`READY ${(http.address() as { port: number }).port}`));

// Memory measurements (bench/loadgen.ts): SIGUSR2 runs a full GC so RSS reflects live memory.
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
process.on('SIGUSR1', () => {
  const m = process.memoryUsage();
  console.log(`MEM heap=${m.heapUsed} rss=${m.rss} external=${m.external} arrayBuffers=${m.arrayBuffers}`);
});
// SIGINT: a clean exit (so `--cpu-prof` can write its profile); the runner uses SIGKILL otherwise.
process.on('SIGINT', () => process.exit(0));

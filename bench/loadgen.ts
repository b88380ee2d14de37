/**
 * The load generator: runs one scenario against one server (in another process), on
 * 127.0.0.1 only, with bounded loops, and prints one JSON result line. Every delivered
 * frame is counted (loss is measured, not assumed); latency is the time from the publish
 * call to the delivery, both in this process (same clock), in an HDR histogram.
 * Add a server kind by adding an adapter below; add a scenario as a function + a case.
 */
import { readFileSync } from 'node:fs';
import hdr from 'hdr-histogram-js';
import { io as sio, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';

type Kind = 'backbeat' | 'raw' | 'raw-corked' | 'socketio';
interface Args {
  kind: Kind;
  port: number;
  /** Cluster runs: subscribers spread over these ports; the publisher uses the first. */
  ports?: number[];
  serverPid: number;
  token: string;
  scenario: 'connect' | 'rate' | 'saturate' | 'idle';
  n?: number;
  subs?: number;
  channels?: number;
  rate?: number;
  durationMs?: number;
  window?: number;
}
const args = JSON.parse(process.argv[2]!) as Args;
const now = () => performance.now();

interface Conn {
  subscribe(channel: string): Promise<void>;
  publish(channel: string, data: unknown): Promise<void>;
  /** Called with the send time carried by each delivered message (only when `sample` says so). */
  onMessage(cb: (t: number | undefined) => void, sample: () => boolean): void;
  close(): void;
}

function wsConn(kind: 'backbeat' | 'raw' | 'raw-corked', port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${kind === 'backbeat' ? '/ws' : '/'}`, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    let nextId = 1;
    const waiting = new Map<number, () => void>();
    const subWaiters: Array<() => void> = [];
    let onMsg: ((t: number | undefined) => void) | undefined;
    let sample: () => boolean = () => false;
    const MSG = Buffer.from('{"type":"message"');
    ws.on('message', (data: Buffer) => {
      if (data.length > MSG.length && data.compare(MSG, 0, MSG.length, 0, MSG.length) === 0) {
        if (onMsg)
          onMsg(sample() ? (JSON.parse(data.toString()) as { data: { t: number } }).data.t : undefined);
        return;
      }
      const f = JSON.parse(data.toString()) as { id?: number; type: string; code?: number; message?: string };
      if (f.type === 'error') {
        console.error(`server error: ${JSON.stringify(f)}`);
        process.exit(1);
      }
      if (f.type === 'subscribed' && f.id === undefined) subWaiters.shift()?.();
      else if (f.id !== undefined) {
        waiting.get(f.id)?.();
        waiting.delete(f.id);
      }
    });
    const request = (cmd: Record<string, unknown>) =>
      new Promise<void>((res) => {
        const id = nextId++;
        waiting.set(id, res);
        ws.send(JSON.stringify({ ...cmd, id }));
      });
    const conn: Conn = {
      subscribe: (channel) =>
        kind === 'backbeat'
          ? request({ type: 'subscribe', channel })
          : new Promise<void>(
              (res) => (subWaiters.push(res), ws.send(JSON.stringify({ type: 'subscribe', channel }))),
            ),
      publish: (channel, data) => request({ type: 'publish', channel, data }),
      onMessage: (cb, s) => ((onMsg = cb), (sample = s)),
      close: () => ws.terminate(),
    };
    ws.once('error', reject);
    ws.once('open', () => {
      if (kind !== 'backbeat') return resolve(conn);
      request({ type: 'connect', token: args.token }).then(() => resolve(conn), reject);
    });
  });
}

function sioConn(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const s: Socket = sio(`http://127.0.0.1:${port}`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
    });
    s.once('connect_error', reject);
    s.once('connect', () =>
      resolve({
        subscribe: (channel) => new Promise<void>((res) => s.emit('subscribe', channel, () => res())),
        publish: (channel, data) =>
          new Promise<void>((res) => s.emit('publish', { channel, data }, () => res())),
        onMessage: (cb, sample) =>
          s.on('message', (m: { data: { t: number } }) => cb(sample() ? m.data.t : undefined)),
        close: () => s.disconnect(),
      }),
    );
  });
}

let opened = 0;
/** Opens a connection; in cluster runs, round-robin over the nodes (`first` = node 0, for the publisher). */
const open = (first = false): Promise<Conn> => {
  const ports = args.ports ?? [args.port];
  const port = first ? ports[0]! : ports[opened++ % ports.length]!;
  return args.kind === 'socketio' ? sioConn(port) : wsConn(args.kind, port);
};

async function openMany(n: number, batch = 250): Promise<Conn[]> {
  const conns: Conn[] = [];
  for (let i = 0; i < n; i += batch)
    conns.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => open()))));
  return conns;
}

/**
 * Steady-state RSS: repeated full GCs in the server (peers handle SIGUSR2 under
 * --expose-gc) over ~5 s, so memory V8 keeps after a burst of short-lived garbage (e.g.
 * token verification on connect) is returned before reading — the same for every server.
 */
async function settledRssKiB(pid: number): Promise<number> {
  for (let i = 0; i < 8; i++) {
    process.kill(pid, 'SIGUSR2');
    await sleep(650);
  }
  return rssKiB(pid);
}

/**
 * CPU time (user + system, every thread) the server process has used so far, in µs, from
 * /proc/<pid>/stat (clock ticks; 100 Hz on Linux). Read from outside so every server is
 * measured alike, without code in the peers.
 */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3; utime, stime are 14, 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1_000_000) / CLK_TCK;
}
const CLK_TCK = 100;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PAD = 'x'.repeat(64);

async function connectScenario(n: number) {
  await sleep(500);
  const before = await settledRssKiB(args.serverPid);
  const t0 = now();
  const conns = await openMany(n);
  const ms = now() - t0;
  await sleep(1000);
  const after = await settledRssKiB(args.serverPid);
  for (const c of conns) c.close();
  return {
    n,
    connectMs: Math.round(ms),
    connectsPerSec: Math.round((n / ms) * 1000),
    rssPerConnKiB: Math.round(((after - before) / n) * 100) / 100,
  };
}

async function fanout(subs: number, channels: number, mode: 'rate' | 'saturate') {
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const conns = await openMany(subs);
  const names = Array.from({ length: channels }, (_, i) => `bench:c${i}`);
  await Promise.all(conns.map((c, i) => c.subscribe(names[i % channels]!)));
  const perChannel = names.map((_, ci) => conns.filter((_c, i) => i % channels === ci).length);
  let received = 0;
  let firstSend = 0;
  let lastRecv = 0;
  let k = 0;
  const sampleEvery = mode === 'saturate' ? 16 : 1;
  for (const c of conns) {
    c.onMessage(
      (t) => {
        received++;
        lastRecv = now();
        if (t !== undefined) h.recordValue(Math.max(1, Math.round((lastRecv - t) * 1000)));
      },
      () => ++k % sampleEvery === 0,
    );
  }
  const pub = await open(true);
  await sleep(300);
  let expected = 0;
  let sent = 0;
  const duration = args.durationMs ?? 5000;
  const cpu0 = cpuMicros(args.serverPid);
  firstSend = now();
  const end = firstSend + duration;
  const send = () => {
    const ch = sent % channels;
    sent++;
    expected += perChannel[ch]!;
    return pub.publish(names[ch]!, { t: now(), pad: PAD });
  };
  if (mode === 'rate') {
    const rate = args.rate ?? 1000;
    const tickMs = 5;
    while (now() < end) {
      const due = Math.floor(((now() - firstSend) / 1000) * rate);
      while (sent < due) void send();
      await sleep(tickMs);
    }
  } else {
    const window = args.window ?? 32;
    await new Promise<void>((resolve) => {
      let inflight = 0;
      const pump = () => {
        while (inflight < window && now() < end) {
          inflight++;
          void send().then(() => {
            inflight--;
            if (now() < end) pump();
            else if (inflight === 0) resolve();
          });
        }
      };
      pump();
    });
  }
  // Drain: wait until everything arrived, or nothing arrived for 3 s.
  let last = -1;
  let stableSince = now();
  while (received < expected) {
    if (received !== last) {
      last = received;
      stableSince = now();
    } else if (now() - stableSince > 3000) break;
    await sleep(20);
  }
  const cpu = cpuMicros(args.serverPid) - cpu0;
  const elapsed = (lastRecv - firstSend) / 1000;
  for (const c of conns) c.close();
  pub.close();
  return {
    subs,
    channels,
    published: sent,
    expected,
    received,
    loss: expected - received,
    deliveredPerSec: Math.round(received / elapsed),
    p50ms: h.getValueAtPercentile(50) / 1000,
    p99ms: h.getValueAtPercentile(99) / 1000,
    p999ms: h.getValueAtPercentile(99.9) / 1000,
    maxms: h.maxValue / 1000,
    /** Server CPU (user + system) from the first publish to the last delivery, per delivery. */
    cpuUsPerDelivery: received > 0 ? Math.round((cpu / received) * 100) / 100 : 0,
    serverCpuMs: Math.round(cpu / 1000),
  };
}

/**
 * Idle RSS of a fresh server: started, no client, a few seconds for start-up work to
 * finish; RSS as an operator sees it (no forced GC), and after repeated full GCs.
 */
async function idleScenario() {
  await sleep(args.durationMs ?? 3000);
  const idleRssMiB = Math.round((rssKiB(args.serverPid) / 1024) * 10) / 10;
  const settled = await settledRssKiB(args.serverPid);
  return { idleRssMiB, idleRssAfterGcMiB: Math.round((settled / 1024) * 10) / 10 };
}

let result: unknown;
if (args.scenario === 'idle') result = await idleScenario();
else if (args.scenario === 'connect') result = await connectScenario(args.n ?? 1000);
else result = await fanout(args.subs ?? 1000, args.channels ?? 1, args.scenario);
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(0);

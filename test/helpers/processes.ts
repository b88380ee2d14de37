/**
 * Real processes for cluster and chaos tests: Backbeat nodes (`node src/main.ts`) and a
 * private Redis server the test may kill and restart (never the shared one on 6379).
 * Everything listens on 127.0.0.1 and is killed by `stop()` / the test's cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const NODE = join(ROOT, 'node_modules/.bin/node');

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    // A check may throw to give up at once (e.g. the process died); fetch errors mean "not yet".
    if (
      await check().catch((err: unknown) => {
        if (err instanceof Error && err.message.includes(' exited ')) throw err;
        return false;
      })
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export class NodeProcess {
  readonly port: number;
  readonly env: Record<string, string>;
  child: ChildProcess | undefined;
  output = '';
  readonly dataDir: string;

  constructor(port: number, env: Record<string, string>) {
    this.port = port;
    this.env = env;
    this.dataDir = mkdtempSync(join(tmpdir(), 'backbeat-node-'));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  async start(): Promise<this> {
    this.child = spawn(NODE, ['src/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(this.port),
        DATA_DIR: this.dataDir,
        LOG_LEVEL: 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    const child = this.child;
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`node on ${this.port} exited ${child.exitCode}: ${this.output.slice(-500)}`);
        return (await fetch(`${this.url}/readyz`)).ok;
        // A generous bound: a loaded 2-core CI box has taken over 20 s to start a node.
      },
      `node on ${this.port} ready`,
      90_000,
    );
    return this;
  }

  /** SIGKILL: the node dies without draining or deregistering. */
  async kill(): Promise<void> {
    await this.#signal('SIGKILL');
  }

  /** SIGTERM: graceful drain. */
  async terminate(): Promise<void> {
    await this.#signal('SIGTERM');
  }

  async #signal(sig: NodeJS.Signals): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(sig);
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** A Redis server of the test's own, with an append-only file so a restart keeps history. */
export class RedisProcess {
  readonly port: number;
  readonly dir = mkdtempSync(join(tmpdir(), 'backbeat-redis-'));
  child: ChildProcess | undefined;

  readonly password: string | undefined;

  constructor(port: number, opts: { password?: string } = {}) {
    this.port = port;
    this.password = opts.password;
  }

  get url(): string {
    return this.password
      ? `redis://:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}`
      : `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        ...(this.password ? ['--requirepass', this.password] : []),
      ],
      { stdio: 'ignore' },
    );
    await waitFor(() => pingRedis(this.port), `redis on ${this.port}`);
    return this;
  }

  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function pingRedis(port: number): Promise<boolean> {
  const { createConnection } = await import('node:net');
  return new Promise((res) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('error', () => res(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      // -NOAUTH also means the server is up.
      res(d.toString().startsWith('+PONG') || d.toString().startsWith('-NOAUTH'));
      s.destroy();
    });
  });
}

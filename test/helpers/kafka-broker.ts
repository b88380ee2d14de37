/**
 * A PRIVATE Apache Kafka broker for chaos tests (broker SIGKILL and restart), so the
 * shared broker on 127.0.0.1:19092 (scripts/lib/kafka.sh) is never disturbed. It runs
 * the jars that `ensure_kafka` cached (`BACKBEAT_KAFKA_LIBS`) as one single-node KRaft
 * JVM (broker + controller) on two free ports and its own temp data dir, formatted once,
 * so `restart()` comes back with the same cluster id, topics and committed offsets.
 * Readiness is a metadata request polled until it answers, never a sleep. The config is
 * written by `kafka_write_config` of scripts/lib/kafka.sh, the same as the shared broker's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { freePort } from './processes.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const LOG4J = join(ROOT, 'scripts/kafka/log4j2.properties');

export class KafkaBroker {
  readonly dir = mkdtempSync(join(tmpdir(), 'backbeat-kafka-'));
  readonly #libs: string;
  #port = 0;
  #controllerPort = 0;
  #child: ChildProcess | undefined;
  #output = '';

  constructor(libs = process.env.BACKBEAT_KAFKA_LIBS) {
    if (!libs || !existsSync(libs)) {
      throw new Error(
        'BACKBEAT_KAFKA_LIBS is not set to the cached Kafka jars: run `source scripts/lib/ensure.sh; ensure_kafka` first',
      );
    }
    this.#libs = libs;
  }

  /** `127.0.0.1:<port>`; valid after the first `start()`. */
  get brokers(): string {
    return `127.0.0.1:${this.#port}`;
  }

  /** The broker's recent console output (WARN and above), for failure messages. */
  get output(): string {
    return this.#output.slice(-4000);
  }

  /** First call: picks the ports, writes the config, formats the data dir. Resolves once the broker answers. */
  async start(): Promise<this> {
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null) return this;
    const config = join(this.dir, 'server.properties');
    if (!this.#port) {
      this.#port = await freePort();
      this.#controllerPort = await freePort();
      writeConfig(config, join(this.dir, 'data'), this.#port, this.#controllerPort);
      this.#format(config);
    }
    const child = spawn('java', [...this.#jvm(), 'kafka.Kafka', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    child.stdout.on('data', (d: Buffer) => (this.#output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (this.#output += d.toString()));
    await this.#ready(child);
    return this;
  }

  /** SIGKILL: no controlled shutdown, no flush; the next start runs log recovery. */
  async kill(): Promise<void> {
    const c = this.#child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  /** Kill, then start again on the same ports and data dir. */
  async restart(): Promise<this> {
    await this.kill();
    return this.start();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  #jvm(): string[] {
    return [
      '-Xms256m',
      '-Xmx512m',
      '-XX:+UseSerialGC',
      `-Dlog4j2.configurationFile=file:${LOG4J}`,
      '-cp',
      `${this.#libs}/*`,
    ];
  }

  #format(config: string): void {
    const fmt = spawnSync(
      'java',
      [
        ...this.#jvm(),
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId(),
        '-c',
        config,
        '--ignore-formatted',
      ],
      {
        encoding: 'utf8',
      },
    );
    if (fmt.status !== 0) throw new Error(`kafka storage format failed: ${fmt.stdout}${fmt.stderr}`);
  }

  async #ready(child: ChildProcess, timeoutMs = 90_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < until) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `kafka broker on ${this.brokers} exited (${child.exitCode ?? child.signalCode}): ${this.output}`,
        );
      }
      const admin = new Admin({
        clientId: 'backbeat-test-ready',
        bootstrapBrokers: [this.brokers],
        retries: 0,
        requestTimeout: 2000,
      });
      try {
        await admin.listTopics();
        return;
      } catch (err) {
        last = err; // not up yet: poll again
      } finally {
        await admin.close();
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`kafka broker on ${this.brokers} not ready after ${timeoutMs} ms: ${this.output}`, {
      cause: last,
    });
  }
}

/** The broker config, from the one definition in scripts/lib/kafka.sh. */
function writeConfig(file: string, dataDir: string, port: number, controllerPort: number): void {
  const r = spawnSync(
    'bash',
    [
      '-c',
      'source "$0" && kafka_write_config "$@"',
      join(ROOT, 'scripts/lib/kafka.sh'),
      file,
      dataDir,
      String(port),
      String(controllerPort),
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`kafka_write_config failed: ${r.stderr}`);
}

/** What `StorageTool random-uuid` prints (16 random bytes, base64url), without a JVM start. */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id; // Kafka rejects ids that read as a command-line flag
  }
}

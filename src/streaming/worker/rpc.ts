import { BackbeatError, ErrorCodes, type ErrorCodeKey } from '../../core/errors/index.ts';

/**
 * Request/response over a MessagePort (the worker's `parentPort` on one side, the `Worker`
 * object on the other), the same on both ends: `call(op, args)` posts `{ t: 'call' }` with
 * a fresh id and resolves with the peer's `{ t: 'reply' }` of that id; incoming calls go
 * to the handler of their `op`. Arguments and results are structured clones. An error
 * thrown by a handler crosses as its message, code (a BackbeatError's catalog key) and
 * `retriable`, and is rebuilt on the caller's side.
 */
export interface RpcPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

export type RpcHandlers = Record<string, (...args: never[]) => unknown>;

interface CallMsg {
  t: 'call';
  id: number;
  op: string;
  args: unknown[];
}
interface WireError {
  message: string;
  key?: string;
  retriable?: boolean;
}
type Outcome = { ok: true; value: unknown } | { ok: false; error: WireError };
type ReplyMsg = { t: 'reply'; id: number } & Outcome;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export const toWire = (err: unknown): WireError => {
  if (err instanceof BackbeatError) return { message: err.message, key: err.key, retriable: err.retriable };
  const e = err as { message?: unknown; retriable?: unknown } | undefined;
  return {
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(e?.retriable === true ? { retriable: true } : {}),
  };
};

export const fromWire = (w: WireError): Error =>
  w.key && w.key in ErrorCodes
    ? new BackbeatError(w.key as ErrorCodeKey, w.message)
    : Object.assign(new Error(w.message), w.retriable ? { retriable: true } : {});

export class RpcPeer {
  readonly #port: RpcPort;
  readonly #handlers: RpcHandlers;
  readonly #pending = new Map<number, Pending>();
  readonly #listener: (m: unknown) => void;
  #next = 1;
  #failed: (() => Error) | undefined;

  constructor(port: RpcPort, handlers: RpcHandlers) {
    this.#port = port;
    this.#handlers = handlers;
    this.#listener = (m) => this.#onMessage(m as CallMsg | ReplyMsg);
    port.on('message', this.#listener);
  }

  /** Calls `op` on the peer; rejects after `timeoutMs` (0: never) or when the peer goes away (`fail`). */
  call<T>(op: string, args: unknown[] = [], timeoutMs = 30_000): Promise<T> {
    if (this.#failed) return Promise.reject(this.#failed());
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.#pending.delete(id);
              reject(
                new BackbeatError('UNAVAILABLE', `stream worker did not answer ${op} within ${timeoutMs} ms`),
              );
            }, timeoutMs).unref()
          : undefined;
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.#port.postMessage({ t: 'call', id, op, args } satisfies CallMsg);
    });
  }

  /** The peer is gone: every pending and later call rejects with `error()`; stops listening. */
  fail(error: () => Error): void {
    this.#failed = error;
    this.#port.off('message', this.#listener);
    for (const p of this.#pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(error());
    }
    this.#pending.clear();
  }

  #onMessage(m: CallMsg | ReplyMsg): void {
    if (m.t === 'reply') {
      const p = this.#pending.get(m.id);
      if (!p) return; // timed out already
      this.#pending.delete(m.id);
      if (p.timer) clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(fromWire(m.error));
      return;
    }
    if (m.t !== 'call') return;
    const fn = this.#handlers[m.op] as ((...args: unknown[]) => unknown) | undefined;
    const reply = (r: Outcome) => {
      if (!this.#failed) this.#port.postMessage({ t: 'reply', id: m.id, ...r });
    };
    if (!fn) {
      reply({ ok: false, error: { message: `unknown stream worker operation ${m.op}` } });
      return;
    }
    try {
      Promise.resolve(fn(...m.args)).then(
        (value) => reply({ ok: true, value }),
        (err: unknown) => reply({ ok: false, error: toWire(err) }),
      );
    } catch (err) {
      reply({ ok: false, error: toWire(err) });
    }
  }
}

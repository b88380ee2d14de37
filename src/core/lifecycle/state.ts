import type { Logger } from '../observability/index.ts';

/**
 * An explicit state union changed in one place that logs every transition and refuses
 * transitions the table does not allow (ioredis' setStatus is the model).
 */
export class StateMachine<S extends string> {
  #state: S;
  readonly #allowed: Readonly<Record<S, readonly S[]>>;
  readonly #log: Logger | undefined;
  readonly #name: string;
  readonly #listeners = new Set<(to: S, from: S) => void>();

  constructor(name: string, initial: S, allowed: Record<S, readonly S[]>, log?: Logger) {
    this.#name = name;
    this.#state = initial;
    this.#allowed = allowed;
    this.#log = log;
  }

  get state(): S {
    return this.#state;
  }

  is(...states: S[]): boolean {
    return states.includes(this.#state);
  }

  /** Moves to `to`; returns false (and changes nothing) when the move is not allowed. */
  set(to: S): boolean {
    const from = this.#state;
    if (from === to) return true;
    if (!this.#allowed[from].includes(to)) return false;
    this.#state = to;
    this.#log?.debug({ machine: this.#name, from, to }, 'state change');
    for (const l of this.#listeners) l(to, from);
    return true;
  }

  onChange(listener: (to: S, from: S) => void): void {
    this.#listeners.add(listener);
  }
}

/** Runs every step even when one fails; reports the first failure after all ran. */
export async function runAll(
  steps: ReadonlyArray<readonly [string, () => unknown]>,
  log?: Logger,
): Promise<void> {
  let first: unknown;
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      log?.error({ err, step: name }, 'close step failed');
      first ??= err;
    }
  }
  if (first !== undefined)
    throw first instanceof Error ? first : new Error('close step failed', { cause: first });
}

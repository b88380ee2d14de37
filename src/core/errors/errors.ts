import { ErrorCodes, type ErrorCodeKey, type ErrorDef } from './codes.ts';

export interface BackbeatErrorOptions {
  cause?: unknown;
  /** Extra fields copied into the error reply (e.g. `retryAfterMs`). */
  details?: Record<string, unknown>;
}

/**
 * An error from the catalog. Carries its WebSocket code, HTTP status and `retriable`
 * flag so that edges map it without string matching.
 */
export class BackbeatError extends Error {
  readonly key: ErrorCodeKey;
  readonly def: ErrorDef;
  readonly details: Record<string, unknown> | undefined;

  constructor(key: ErrorCodeKey, message?: string, options: BackbeatErrorOptions = {}) {
    const def = ErrorCodes[key];
    super(message ?? def.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BackbeatError';
    this.key = key;
    this.def = def;
    this.details = options.details;
  }

  get wsCode(): number {
    return this.def.ws;
  }
  get httpStatus(): number {
    return this.def.http;
  }
  get retriable(): boolean {
    return this.def.retriable;
  }
}

export class UnauthorizedError extends BackbeatError {
  constructor(message = 'unauthorized', options?: BackbeatErrorOptions) {
    super('UNAUTHORIZED', message, options);
    this.name = 'UnauthorizedError';
  }
}

export class ForbiddenError extends BackbeatError {
  constructor(message = 'forbidden', options?: BackbeatErrorOptions) {
    super('FORBIDDEN', message, options);
    this.name = 'ForbiddenError';
  }
}

export class BadRequestError extends BackbeatError {
  constructor(message: string, options?: BackbeatErrorOptions) {
    super('BAD_REQUEST', message, options);
    this.name = 'BadRequestError';
  }
}

export class RateLimitedError extends BackbeatError {
  constructor(retryAfterMs: number) {
    super('RATE_LIMITED', 'rate limit exceeded', { details: { retryAfterMs } });
    this.name = 'RateLimitedError';
  }
}

export class UnavailableError extends BackbeatError {
  constructor(message: string, options?: BackbeatErrorOptions) {
    super('UNAVAILABLE', message, options);
    this.name = 'UnavailableError';
  }
}

export class InternalError extends BackbeatError {
  constructor(message: string, options?: BackbeatErrorOptions) {
    super('INTERNAL', message, options);
    this.name = 'InternalError';
  }
}

/** Converts anything thrown into a catalog error; unknown errors become INTERNAL with cause. */
export function toBackbeatError(err: unknown): BackbeatError {
  if (err instanceof BackbeatError) return err;
  return new BackbeatError('INTERNAL', undefined, { cause: err });
}

/** A failed command or connection, with the backbeat.v1 code (SPEC §3) to branch on. */
export class BackbeatClientError extends Error {
  readonly code: number;
  /** For 4029: how long to wait before retrying. */
  readonly retryAfterMs: number | undefined;

  constructor(code: number, message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'BackbeatClientError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Client-side codes (not sent by servers): the command timed out / the connection went away. */
export const TIMEOUT = 408;
export const DISCONNECTED = 499;
/** Closes after which retrying with the same credentials cannot help. */
export const NO_RECONNECT_CODES = new Set([4001, 4003, 4013]);

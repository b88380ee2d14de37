/**
 * The one catalog of Backbeat errors. Every error a client can see is named here once,
 * with its WebSocket code (error replies and close codes, SPEC §3), its HTTP status and
 * its default message. `docs/errors.md` is checked against this table by
 * `doc.test.ts`; add a row here, then regenerate the doc with `npm run docs`.
 */
export interface ErrorDef {
  /** Stable string code used in HTTP error bodies and logs. */
  readonly name: string;
  /** WebSocket error/close code. */
  readonly ws: number;
  /** HTTP status for the same condition. */
  readonly http: number;
  /** Whether repeating the same request later may succeed. Retry logic reads this flag. */
  readonly retriable: boolean;
  readonly message: string;
}

export const ErrorCodes = {
  UNAUTHORIZED: { name: 'unauthorized', ws: 4001, http: 401, retriable: false, message: 'unauthorized' },
  FORBIDDEN: { name: 'forbidden', ws: 4003, http: 403, retriable: false, message: 'forbidden' },
  NOT_FOUND: { name: 'not_found', ws: 4400, http: 404, retriable: false, message: 'not found' },
  CONNECT_TIMEOUT: {
    name: 'connect_timeout',
    ws: 4008,
    http: 408,
    retriable: true,
    message: 'no connect command within the connect timeout',
  },
  SLOW_CONSUMER: {
    name: 'slow_consumer',
    ws: 4009,
    http: 503,
    retriable: true,
    message: 'client could not keep up with its outbound queue',
  },
  TOKEN_EXPIRED: { name: 'token_expired', ws: 4011, http: 401, retriable: true, message: 'token expired' },
  REQUEST_TIMEOUT: {
    name: 'request_timeout',
    ws: 4008,
    http: 408,
    retriable: true,
    message: 'the request was not received in time',
  },
  TOO_LARGE: { name: 'too_large', ws: 4013, http: 413, retriable: false, message: 'message too large' },
  RATE_LIMITED: {
    name: 'rate_limited',
    ws: 4029,
    http: 429,
    retriable: true,
    message: 'rate limit exceeded',
  },
  BAD_REQUEST: { name: 'bad_request', ws: 4400, http: 400, retriable: false, message: 'bad request' },
  INTERNAL: { name: 'internal', ws: 4500, http: 500, retriable: true, message: 'internal error' },
  UNAVAILABLE: {
    name: 'unavailable',
    ws: 4503,
    http: 503,
    retriable: true,
    message: 'a dependency is unavailable',
  },
  STREAM_BACKLOG: {
    name: 'stream_backlog',
    ws: 4503,
    http: 503,
    retriable: true,
    message: 'the event stream is too far behind; retry later',
  },
  GOING_AWAY: { name: 'going_away', ws: 1001, http: 503, retriable: true, message: 'server going away' },
} as const satisfies Record<string, ErrorDef>;

export type ErrorCodeKey = keyof typeof ErrorCodes;

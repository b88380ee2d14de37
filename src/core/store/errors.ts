import { UnavailableError } from '../errors/index.ts';

/**
 * The store's database cannot be reached or used (connection refused, authentication,
 * disk full, file not openable). Retriable (4503 / 503). The message names the database
 * as `describeDatabase` does, never with a password.
 */
export class StoreUnavailableError extends UnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** A database URL fit for messages and logs: the password replaced, query dropped. */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    // Not a URL: show only its scheme, never the rest (it may hold credentials).
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1] ?? 'database';
    return `${scheme}://(unparseable URL)`;
  }
}

/** The error's message with any occurrence of `secret` removed. */
export function scrubMessage(err: unknown, secret: string | undefined): string {
  const message = err instanceof Error ? err.message : String(err);
  return secret ? message.split(secret).join('***') : message;
}

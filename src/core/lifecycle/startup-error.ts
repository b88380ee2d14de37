/**
 * A start that failed: which part could not start, the setting that points at it (when one
 * does), and the real cause (kept as `cause`). Not a configuration error: the configuration
 * was valid, a dependency or the machine refused (unreachable Redis, a locked data
 * directory, a port in use). One line: `<part> (<SETTING>): <cause>`.
 */
export class StartupError extends Error {
  readonly part: string;
  readonly setting: string | undefined;
  /** The cause's errno code (EADDRINUSE, ECONNREFUSED, …) when it has one. */
  readonly code: string | undefined;

  constructor(part: string, setting: string | undefined, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`${part}${setting ? ` (${setting})` : ''}: ${reason}`, { cause });
    this.name = 'StartupError';
    this.part = part;
    this.setting = setting;
    const code = (cause as { code?: unknown } | null)?.code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

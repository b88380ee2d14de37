import type { Engines } from './ports.ts';

/** Closes every port of an engine set; each close runs even if another fails. */
export async function closePorts(
  e: Pick<Engines, 'history' | 'broker' | 'presence' | 'rateLimiter' | 'sessions'>,
): Promise<void> {
  await Promise.allSettled([
    e.broker.close(),
    e.presence.close(),
    e.rateLimiter.close(),
    e.sessions.close(),
    e.history.close(),
  ]);
}

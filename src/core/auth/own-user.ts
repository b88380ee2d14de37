import { ForbiddenError } from '../errors/index.ts';

/**
 * The one own-user rule: a token may act on user `target` when it is that user's own
 * token (`sub`), or when it carries the service scope for the action. Used by the HTTP
 * routes (`/v1/users/{id}/…`, devices), the WebSocket `event` command and the event intake.
 */
export function assertOwnUser(
  tokenUser: string,
  target: string,
  hasServiceScope: boolean,
  scope: string,
): void {
  if (!hasServiceScope && tokenUser !== target) {
    throw new ForbiddenError(
      `only user ${tokenUser}'s own data without the ${scope} scope (asked for ${target})`,
    );
  }
}

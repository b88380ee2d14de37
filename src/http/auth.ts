import type { FastifyRequest } from 'fastify';
import { assertOwnUser, type Principal, type Scope, type TokenVerifier } from '../core/auth/index.ts';
import { ForbiddenError, UnauthorizedError } from '../core/errors/index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;

/** Verifies `Authorization: Bearer JWT` and returns the principal. */
export async function authenticate(req: FastifyRequest, verifier: TokenVerifier): Promise<Principal> {
  // RFC 7235 §2.1: the auth scheme is case-insensitive (`bearer`, `BEARER` are Bearer too).
  const m = BEARER.exec(req.headers.authorization ?? '');
  if (!m) throw new UnauthorizedError('missing Authorization: Bearer token');
  const principal = await verifier.verify(m[1]!);
  req.principal = principal;
  return principal;
}

/** A preHandler that requires one scope (or `admin`). */
export function requireScope(verifier: TokenVerifier, scope: Scope) {
  return async (req: FastifyRequest): Promise<void> => {
    const p = await authenticate(req, verifier);
    if (!p.hasScope(scope)) throw new ForbiddenError(`token lacks scope ${scope}`);
  };
}

/** A preHandler: the scope, or a token whose `sub` is the `:id` of the route (the user's own data). */
export function scopeOrOwn(verifier: TokenVerifier, scope: Scope) {
  return async (req: FastifyRequest): Promise<void> => {
    const p = await authenticate(req, verifier);
    const { id } = req.params as { id: string };
    assertOwnUser(p.user, id, p.hasScope(scope), scope);
  };
}

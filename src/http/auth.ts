import type { FastifyRequest } from 'fastify';
import type { Principal, Scope, TokenVerifier } from '../core/auth/index.ts';
import { ForbiddenError, UnauthorizedError } from '../core/errors/index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** Verifies `Authorization: Bearer JWT` and returns the principal. */
export async function authenticate(req: FastifyRequest, verifier: TokenVerifier): Promise<Principal> {
  const header = req.headers.authorization;
  if (!header || !header.startsWith('Bearer ')) throw new UnauthorizedError('missing Authorization: Bearer token');
  const principal = await verifier.verify(header.slice(7).trim());
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

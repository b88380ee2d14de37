export { compileGlobs } from './glob.ts';
export { SCOPES, TokenVerifier, type Principal, type Scope, type VerifierOptions } from './verifier.ts';
export { assertOwnUser } from './own-user.ts';
export { USER_ID_PATTERN, USER_ID_RULE, isUserId } from './user-id.ts';
export { signHs256, type TokenClaims } from './tokens.ts';

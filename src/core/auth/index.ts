export { compileGlobs } from './glob.ts';
export { SCOPES, TokenVerifier, type Principal, type Scope, type VerifierOptions } from './verifier.ts';
export { signHs256, type TokenClaims } from './tokens.ts';

export { DependencyBreaker, type BreakerOptions } from './breaker.ts';
export { backoffMs } from './backoff.ts';

export { DependencyBreaker, type BreakerOptions } from './breaker.ts';

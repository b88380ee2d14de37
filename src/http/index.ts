export { createHttpServer, type HttpDeps } from './server.ts';
export { HttpMetrics } from './metrics.ts';
export type { HttpApp } from './routes/types.ts';

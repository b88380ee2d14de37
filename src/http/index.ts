export { createHttpServer, type HttpDeps } from './server.ts';

export { createLogger, REDACT_PATHS, type Logger } from './logger.ts';
export { Metrics } from './metrics.ts';
export { extractContext, injectContext, tracer, withSpan, type TraceHeaders } from './tracing.ts';

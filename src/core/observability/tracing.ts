import { context, propagation, trace, type Context, type Span, SpanStatusCode } from '@opentelemetry/api';

/**
 * OpenTelemetry through its API only: with no SDK registered every call is a no-op; an
 * operator who registers one (e.g. `node --import @opentelemetry/auto-instrumentations-node`)
 * gets spans and W3C trace context. `traceparent`/`tracestate` are carried on publications
 * and events as plain headers.
 */
export const tracer = trace.getTracer('backbeat');

export type TraceHeaders = Record<string, string>;

export function extractContext(headers: Record<string, unknown> | undefined): Context {
  if (!headers) return context.active();
  return propagation.extract(context.active(), headers, {
    get: (carrier, key) => {
      const v = carrier[key];
      return typeof v === 'string' ? v : undefined;
    },
    keys: (carrier) => Object.keys(carrier),
  });
}

/** The current trace context as W3C headers (empty when no SDK or no active span). */
export function injectContext(ctx: Context = context.active()): TraceHeaders {
  const out: TraceHeaders = {};
  propagation.inject(ctx, out);
  return out;
}

export function withSpan<T>(name: string, parent: Context, fn: (span: Span) => T): T {
  return tracer.startActiveSpan(name, {}, parent, (span) => {
    try {
      const result = fn(span);
      if (result instanceof Promise) {
        return result.then(
          (v: unknown) => {
            span.end();
            return v;
          },
          (err: unknown) => {
            span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
            span.end();
            throw err;
          },
        ) as T;
      }
      span.end();
      return result;
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
      span.end();
      throw err;
    }
  });
}

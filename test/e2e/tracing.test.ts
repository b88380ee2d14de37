/**
 * Trace context: a publish continues the caller's W3C `traceparent` in a
 * `gateway.publish` span, and the publication carries the context on for consumers.
 * A real OpenTelemetry SDK (in-memory exporter) is registered for this file only.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('trace context', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let srv: TestServer;
  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv?.close();
    await provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  });

  it('POST /v1/publish with traceparent → a gateway.publish span in that trace; the publication keeps the context', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const r = await fetch(`${srv.url}/v1/publish`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await srv.token({ sub: 'svc', scope: 'publish' })}`,
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${parentId}-01`,
      },
      body: JSON.stringify({ channel: 'chat:traced', data: 1 }),
    });
    expect(r.status).toBe(200);
    await provider.forceFlush();
    // The node publishes on system:* channels by itself (dashboard, alerts): pick this request's span.
    const span = exporter
      .getFinishedSpans()
      .find((s) => s.name === 'gateway.publish' && s.attributes['backbeat.channel'] === 'chat:traced');
    expect(span).toBeDefined();
    expect(span!.spanContext().traceId).toBe(traceId);
    expect(span!.parentSpanContext?.spanId).toBe(parentId);
    expect(span!.attributes['backbeat.channel']).toBe('chat:traced');
    expect(span!.attributes['backbeat.offset']).toBe(1);
    const page = await srv.app.engines.history.read('chat:traced', { limit: 1 });
    expect(page.publications[0]!.trace?.['traceparent']).toMatch(
      new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`),
    );
  });
});

import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from './metrics.ts';

describe('GatewayMetrics', () => {
  it('hot-path tallies are exact whenever the registry is read, and are folded in once', async () => {
    const registry = new Registry();
    const m = new GatewayMetrics(registry);
    m.framesIn += 3;
    m.frameBytesIn += 300;
    m.framesOut += 10;
    m.frameBytesOut += 1000;
    m.commandOk('publish');
    m.commandOk('publish');
    m.commandOk('subscribe');
    m.commands.labels('publish', '4403').inc();
    const text = await registry.metrics();
    expect(text).toContain('backbeat_gateway_messages_in_total 3');
    expect(text).toContain('backbeat_gateway_bytes_in_total 300');
    expect(text).toContain('backbeat_gateway_messages_out_total 10');
    expect(text).toContain('backbeat_gateway_bytes_out_total 1000');
    expect(text).toContain('backbeat_gateway_commands_total{type="publish",outcome="ok"} 2');
    expect(text).toContain('backbeat_gateway_commands_total{type="subscribe",outcome="ok"} 1');
    expect(text).toContain('backbeat_gateway_commands_total{type="publish",outcome="4403"} 1');
    // A second read adds only what happened since the first.
    m.framesOut += 5;
    m.commandOk('publish');
    const json = await registry.getMetricsAsJSON();
    const value = (name: string, labels: Record<string, string> = {}) =>
      json
        .find((x) => x.name === name)!
        .values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))!.value;
    expect(value('backbeat_gateway_messages_out_total')).toBe(15);
    expect(value('backbeat_gateway_messages_in_total')).toBe(3);
    expect(value('backbeat_gateway_commands_total', { type: 'publish', outcome: 'ok' })).toBe(3);
  });

  it('publish durations land in the histogram by source', async () => {
    const registry = new Registry();
    const m = new GatewayMetrics(registry);
    m.observePublish('ws', 0.0002);
    m.observePublish('ws', 0.002);
    m.observePublish('http', 0.02);
    const text = await registry.getSingleMetricAsString('backbeat_gateway_publish_duration_seconds');
    expect(text).toContain('backbeat_gateway_publish_duration_seconds_count{source="ws"} 2');
    expect(text).toContain('backbeat_gateway_publish_duration_seconds_count{source="http"} 1');
    expect(text).toContain('backbeat_gateway_publish_duration_seconds_bucket{le="0.00025",source="ws"} 1');
  });
});

import { metricsRegistry } from '@thoth/platform';
import { describe, expect, it } from 'vitest';
import { exposeSinks, newCounters } from './metrics.ts';

describe('SIEM sink families', () => {
  it("render each running sink's counters, up and lag with escaped labels, and drop them once removed", async () => {
    const remove = exposeSinks([
      {
        labels: { sink: 'a"b', type: 'hec', tenant: 'acme' },
        counters: { ...newCounters(), delivered: 7, retried: 2 },
        lag: async () => 3,
      },
      {
        labels: { sink: 'file', type: 'file', tenant: '*' },
        counters: { ...newCounters(), up: 0 },
        lag: async () => undefined,
      },
    ]);
    const text = await metricsRegistry.metrics();
    remove();
    expect(text).toContain('# TYPE thoth_siem_events_delivered_total counter');
    expect(text).toContain('thoth_siem_events_delivered_total{sink="a\\"b",type="hec",tenant="acme"} 7');
    expect(text).toContain('thoth_siem_events_retried_total{sink="a\\"b",type="hec",tenant="acme"} 2');
    expect(text).toContain('thoth_siem_consumer_lag_messages{sink="a\\"b",type="hec",tenant="acme"} 3');
    expect(text).toContain('thoth_siem_sink_up{sink="file",type="file",tenant="*"} 0');
    expect(text).not.toContain('thoth_siem_consumer_lag_messages{sink="file"');
    expect(await metricsRegistry.metrics()).not.toContain('sink="a\\"b"');
  });
});

import { describe, expect, it } from 'vitest';
import { newCounters, renderPrometheus } from './metrics.ts';

describe('Prometheus exposition', () => {
  it('renders each counter per sink with HELP/TYPE and escaped labels', () => {
    const text = renderPrometheus([
      {
        sink: 'a"b',
        type: 'hec',
        tenant: 'acme',
        counters: { ...newCounters(), delivered: 7, retried: 2 },
        lag: 3,
      },
      { sink: 'file', type: 'file', tenant: '*', counters: newCounters(), lag: undefined },
    ]);
    expect(text).toContain('# TYPE thoth_siem_events_delivered_total counter');
    expect(text).toContain('thoth_siem_events_delivered_total{sink="a\\"b",type="hec",tenant="acme"} 7');
    expect(text).toContain('thoth_siem_events_retried_total{sink="a\\"b",type="hec",tenant="acme"} 2');
    expect(text).toContain('thoth_siem_consumer_lag_messages{sink="a\\"b",type="hec",tenant="acme"} 3');
    expect(text).not.toContain('thoth_siem_consumer_lag_messages{sink="file"');
    expect(text.endsWith('\n')).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { SAMPLE_RECORDS } from './formats/sample-records.ts';
import { toSiemEvent } from './siem-event.ts';
import { parseSinkConfig, sinkFormat } from './sink-config.ts';
import { sinkWants } from './sink-filter.ts';

const hec = {
  id: 'splunk',
  tenant: 'acme-corp',
  type: 'hec',
  url: 'https://splunk.example:8088',
  token: 'env:SPLUNK_TOKEN',
};

describe('SIEM sinks file', () => {
  it('applies defaults and resolves env: credentials', () => {
    const [sink] = parseSinkConfig({ sinks: [hec] }, { SPLUNK_TOKEN: 'tok-123' });
    expect(sink).toMatchObject({
      type: 'hec',
      token: 'tok-123',
      gzip: true,
      ack: false,
      batch_size: 500,
      filters: {},
    });
    expect(sinkFormat(sink!)).toBe('ocsf');
  });

  it('names the field of every error', () => {
    expect(() =>
      parseSinkConfig(
        {
          sinks: [
            hec,
            {
              id: 'syslog',
              tenant: 'acme-corp',
              type: 'syslog',
              host: 'siem',
              port: 70_000,
              filters: { min_severity: 'loud' },
            },
            { id: 'syslog', tenant: 'x', type: 'carrier-pigeon' },
          ],
        },
        {},
      ),
    ).toThrow(
      /sinks\.0\.token: environment variable SPLUNK_TOKEN is not set[\s\S]*sinks\.1\.filters\.min_severity[\s\S]*sinks\.1\.port[\s\S]*sinks\.2\.type/,
    );
  });

  it('refuses unknown fields and duplicate ids', () => {
    expect(() => parseSinkConfig({ sinks: [{ ...hec, token: 't', tokne: 'typo' }] })).toThrow(/tokne/);
    expect(() =>
      parseSinkConfig({
        sinks: [
          { ...hec, token: 't' },
          { ...hec, token: 't' },
        ],
      }),
    ).toThrow(/sinks\.1\.id: duplicate sink id "splunk"/);
  });
});

describe('sink filters', () => {
  const event = (name: string) => {
    const e = toSiemEvent(SAMPLE_RECORDS[name]!);
    if ('unsupported' in e) throw new Error(e.unsupported);
    return e;
  };
  it('match tenant, event types, decisions and minimum severity', () => {
    const all = { tenant: '*', filters: {} };
    expect(sinkWants(all, event('decision-allow'))).toBe(true);
    expect(sinkWants({ tenant: 'other', filters: {} }, event('decision-allow'))).toBe(false);
    expect(sinkWants({ tenant: '*', filters: { event_types: ['FINDING'] } }, event('decision-allow'))).toBe(
      false,
    );
    expect(
      sinkWants({ tenant: '*', filters: { event_types: ['FINDING'] } }, event('finding-rate-spike')),
    ).toBe(true);
    const blocks = { tenant: 'acme-corp', filters: { decisions: ['BLOCK' as const] } };
    expect(sinkWants(blocks, event('decision-block'))).toBe(true);
    expect(sinkWants(blocks, event('decision-allow'))).toBe(false);
    expect(sinkWants(blocks, event('finding-rate-spike'))).toBe(false);
    const serious = { tenant: '*', filters: { min_severity: 'medium' as const } };
    expect(sinkWants(serious, event('decision-step-up'))).toBe(true);
    expect(sinkWants(serious, event('tool-call-pre'))).toBe(false);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SAMPLE_RECORDS } from './formats/sample-records.ts';
import { toSiemEvent } from './siem-event.ts';
import { loadSinkConfig, parseSinkConfig, sinkFormat } from './sink-config.ts';
import { sinkWants } from './sink-filter.ts';
import { createTransport } from './transports/create-transport.ts';

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
      /sinks\.0\.token \(sink "splunk"\): environment variable SPLUNK_TOKEN is not set[\s\S]*sinks\.1\.filters\.min_severity \(sink "syslog"\)[\s\S]*sinks\.1\.port \(sink "syslog"\)[\s\S]*sinks\.2\.type/,
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
    ).toThrow(/sinks\.1\.id \(sink "splunk"\): duplicate sink id "splunk"/);
  });
});

describe('sinks file errors name the sink and the field', () => {
  it('a missing CA file, client key or unusable directory', () => {
    const [syslog] = parseSinkConfig({
      sinks: [
        {
          id: 'arcsight',
          tenant: '*',
          type: 'syslog',
          host: 'siem',
          port: 6514,
          ca_file: '/nonexistent/ca.pem',
        },
      ],
    });
    expect(() => createTransport(syslog!, 'thoth:cef')).toThrow(
      'SIEM sink "arcsight": ca_file /nonexistent/ca.pem cannot be read (ENOENT)',
    );
    expect(() =>
      parseSinkConfig({
        sinks: [{ id: 'mtls', tenant: '*', type: 'syslog', host: 'siem', port: 6514, cert_file: '/c.pem' }],
      }),
    ).toThrow(/sinks\.0\.key_file \(sink "mtls"\): a client certificate needs both cert_file and key_file/);
    const dir = mkdtempSync(join(tmpdir(), 'sink-file-'));
    try {
      // A directory under a regular file cannot be made (ENOTDIR).
      writeFileSync(join(dir, 'file'), '');
      const [file] = parseSinkConfig({
        sinks: [{ id: 'lake', tenant: '*', type: 'file', dir: join(dir, 'file', 'siem') }],
      });
      expect(() => createTransport(file!, 'thoth:ocsf')).toThrow(
        /SIEM sink "lake": dir .*file\/siem cannot be used \(ENOTDIR\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('format settings: OCSF version and LEEF delimiter are checked', () => {
    const base = { id: 'f', tenant: '*', type: 'file', dir: '/tmp/x' };
    expect(parseSinkConfig({ sinks: [base] })[0]).toMatchObject({
      ocsf_version: '1.8.0',
      leef_delimiter: '^',
    });
    expect(() => parseSinkConfig({ sinks: [{ ...base, ocsf_version: '1.3.0' }] })).toThrow(
      /sinks\.0\.ocsf_version \(sink "f"\)/,
    );
    expect(() => parseSinkConfig({ sinks: [{ ...base, leef_delimiter: '\t' }] })).toThrow(
      /sinks\.0\.leef_delimiter/,
    );
  });

  it('the examples parse: siem-local.yaml needs nothing from the environment', () => {
    const examples = new URL('../../../examples/', import.meta.url);
    const local = loadSinkConfig(new URL('siem-local.yaml', examples).pathname, {});
    expect(local.map((s) => [s.type, sinkFormat(s)])).toEqual([
      ['file', 'ocsf'],
      ['file', 'ecs'],
      ['file', 'cef'],
      ['file', 'leef'],
    ]);
    const full = loadSinkConfig(new URL('siem-sinks.yaml', examples).pathname, {
      SPLUNK_HEC_TOKEN: 't',
      GLOBEX_WEBHOOK_SECRET: 's'.repeat(16),
    });
    expect(full).toHaveLength(5);
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

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type SiemEvent, toSiemEvent } from '../siem-event.ts';
import { escapeCefExtension, escapeCefHeader, formatCef } from './cef.ts';
import { FORMATS, formatEvent } from './formats.ts';
import { hecBatchBody, hecEnvelope } from './hec.ts';
import { formatLeef } from './leef.ts';
import { SAMPLE_RECORDS } from './sample-records.ts';

const GOLDEN = new URL('../../test-fixtures/golden/', import.meta.url);

/** Compares with the committed golden file; UPDATE_GOLDEN=1 rewrites it (review the diff before committing). */
function expectGolden(name: string, actual: string): void {
  const file = new URL(name, GOLDEN);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  expect(existsSync(file), `golden file ${name} is missing (run with UPDATE_GOLDEN=1)`).toBe(true);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

function sample(name: string): SiemEvent {
  const event = toSiemEvent(SAMPLE_RECORDS[name]!);
  if ('unsupported' in event) throw new Error(event.unsupported);
  return event;
}

const names = Object.keys(SAMPLE_RECORDS);

describe('golden files', () => {
  for (const format of FORMATS)
    it(`${format} matches its golden file for every kind of event`, () => {
      const rendered = names.map((n) => {
        const out = formatEvent(format, sample(n));
        return typeof out === 'string' ? `${n}\n${out}\n` : `${n}\n${JSON.stringify(out, null, 2)}\n`;
      });
      expectGolden(`${format}.txt`, rendered.join('\n'));
    });

  it('HEC envelopes match their golden file', () => {
    const envelopes = names.map((n) =>
      hecEnvelope(sample(n).time, formatEvent('ocsf', sample(n)), {
        host: 'exporter-1',
        source: 'thoth',
        sourcetype: 'thoth:ocsf',
        index: 'security',
      }),
    );
    expectGolden('hec.ndjson', `${hecBatchBody(envelopes)}\n`);
  });
});

describe('CEF (ArcSight CEF spec)', () => {
  it('escapes backslash and pipe in header fields, and keeps the header on one line', () => {
    expect(escapeCefHeader('a|b\\c')).toBe('a\\|b\\\\c');
    expect(escapeCefHeader('two\nlines')).toBe('two lines');
  });

  it('escapes backslash, equals sign and line breaks in extension values, not pipes', () => {
    expect(escapeCefExtension('a=b\\c|d')).toBe('a\\=b\\\\c|d');
    expect(escapeCefExtension('l1\nl2\r\nl3\rl4')).toBe('l1\\nl2\\nl3\\rl4');
  });

  it('has seven header fields, a 0-10 severity and the event fields as extensions', () => {
    const line = formatCef(sample('decision-block'));
    expect(line).not.toContain('\n');
    const header = line.split(/(?<!\\)\|/).slice(0, 7);
    expect(header).toEqual([
      'CEF:0',
      'Thoth',
      'Thoth',
      '0.1.0',
      'thoth:decision:block',
      'BLOCK wire_transfer',
      '8',
    ]);
    expect(line).toContain('act=BLOCK');
    expect(line).toContain('cs1Label=tenantId cs1=acme-corp');
    expect(line).toContain('cn1Label=riskScore cn1=92');
    expect(line).toContain('reason=amount\\=50000 exceeds limit | policy "wires" \\\\ line1\\nline2');
  });
});

describe('LEEF 2.0', () => {
  it('declares its delimiter and never lets a value break an attribute or the line', () => {
    const line = formatLeef(sample('tool-call-pre'));
    expect(line.startsWith('LEEF:2.0|Thoth|Thoth|0.1.0|thoth:tool_call:tool_call_pre|x09|')).toBe(true);
    expect(line).not.toContain('\n');
    const attributes = line.split('|x09|')[1]!.split('\t');
    expect(attributes.every((a) => /^[A-Za-z]+=/.test(a))).toBe(true);
    expect(attributes).toContain('msg=search_docs("Q4 report")');
    expect(attributes).toContain('devTime=2026-01-15T09:30:00.123Z');
  });
});

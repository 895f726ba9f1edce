import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type SiemEvent, toSiemEvent } from '../siem-event.ts';
import {
  CEF_EXTENSION_LIMITS,
  cefExtensions,
  escapeCefExtension,
  escapeCefHeader,
  formatCef,
} from './cef.ts';
import { asLine, FORMATS, fitLine, formatEvent } from './formats.ts';
import { hecBatchBody, hecEnvelope } from './hec.ts';
import { formatLeef } from './leef.ts';
import { SAMPLE_RECORDS } from './sample-records.ts';
import { sanitizeText, TRUNCATION_MARKER, truncateText } from './text.ts';

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
    // Unicode line breaks are line breaks; other control characters never reach the line.
    expect(escapeCefExtension('a\u2028b\u0085c')).toBe('a\\nb\\nc');
    expect(escapeCefExtension('nul\u0000 esc\u001b vt\u000b ff\u000c tab\t')).toBe(
      'nul\uFFFD esc\uFFFD vt\uFFFD ff\uFFFD tab ',
    );
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

  it('holds every field to its dictionary length, cut with a marker; a long event id becomes a short externalId', () => {
    const long = 'x'.repeat(10_000);
    const event = {
      ...sample('decision-block'),
      id: `acme-corp:${'f'.repeat(36)}`,
      reason: long,
      message: `${long}!`,
    };
    const fields = new Map(cefExtensions(event));
    expect(fields.get('reason')).toHaveLength(1023);
    expect(fields.get('reason')!.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(fields.get('msg')).toHaveLength(1023);
    expect(fields.get('externalId')).toMatch(/^sha256:[0-9a-f]{32}$/);
    expect(fields.get('cs6')).toBe(event.id);
    for (const [key, value] of fields)
      expect(value.length).toBeLessThanOrEqual(CEF_EXTENSION_LIMITS[key] ?? 20);
    const name = formatCef({ ...event, title: 'n'.repeat(600) }).split(/(?<!\\)\|/)[5]!;
    expect(name).toHaveLength(512);
  });
});

describe('LEEF 2.0', () => {
  it('declares `^` as its delimiter and never lets a value break an attribute or the line', () => {
    const line = formatLeef({ ...sample('tool-call-pre'), message: 'a^b\tc\nd\u0000e\u001b' });
    expect(line.startsWith('LEEF:2.0|Thoth|Thoth|0.1.0|thoth:tool_call:tool_call_pre|^|')).toBe(true);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is checked
    expect(line).not.toMatch(/[\u0000-\u001f]/);
    const attributes = line.split('|^|')[1]!.split('^');
    expect(attributes.every((a) => /^[A-Za-z]+=/.test(a))).toBe(true);
    expect(attributes).toContain('msg=a b c d\uFFFDe\uFFFD');
    expect(attributes).toContain('devTime=2026-01-15T09:30:00.123Z');
  });

  it('takes another delimiter', () => {
    const line = formatLeef(sample('tool-call-pre'), '~');
    expect(line).toContain('|~|devTime=');
    expect(() => formatLeef(sample('tool-call-pre'), '=')).toThrow(/delimiter/);
  });
});

describe('text rules', () => {
  it('cuts to a length in UTF-16 units without splitting a surrogate pair', () => {
    expect(truncateText('abc', 3)).toBe('abc');
    const cut = truncateText(`${'a'.repeat(5)}😀${'b'.repeat(40)}`, TRUNCATION_MARKER.length + 6);
    expect(cut).toBe(`aaaaa${TRUNCATION_MARKER}`);
    expect(sanitizeText('a\r\nb\u2029c', true)).toBe('a\nb\nc');
  });

  it('writes JSON lines a line reader keeps whole', () => {
    const line = asLine({ a: 'x\u2028y\u0085z\u007f' });
    expect(line).toBe('{"a":"x\\u2028y\\u0085z\\u007f"}');
    expect(JSON.parse(line)).toEqual({ a: 'x\u2028y\u0085z\u007f' });
  });

  it('fits each format in a byte budget, keeping it parseable', () => {
    const big = { ...sample('decision-block'), message: 'é'.repeat(6_000), reason: 'r'.repeat(3_000) };
    for (const format of FORMATS) {
      const line = fitLine(format, big, formatEvent(format, big), 2_000)!;
      expect(Buffer.byteLength(line), format).toBeLessThanOrEqual(2_000);
      expect(line, format).toContain(TRUNCATION_MARKER);
      if (format === 'ocsf' || format === 'ecs') expect(() => JSON.parse(line)).not.toThrow();
    }
  });
});

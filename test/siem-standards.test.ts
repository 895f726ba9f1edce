import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EcsFlat } from '@elastic/ecs';
import { describe, expect, it } from 'vitest';
import { formatCef } from '../services/siem-export/src/formats/cef.ts';
import { ECS_VERSION, formatEcs } from '../services/siem-export/src/formats/ecs.ts';
import { asLine } from '../services/siem-export/src/formats/formats.ts';
import { formatLeef } from '../services/siem-export/src/formats/leef.ts';
import { formatOcsf, OCSF_VERSIONS } from '../services/siem-export/src/formats/ocsf.ts';
import { type SiemEvent, toSiemEvent } from '../services/siem-export/src/siem-event.ts';
import { hostileRecords } from './fixtures/siem/hostile-records.ts';

/**
 * Issue #20: every format checked against the standard itself, by implementations that are not ours, over every
 * kind of event and a set of hostile values (test/fixtures/siem/hostile-records.ts): 0 invalid records.
 *
 * - OCSF: OCSF's own compiled schema of each version we can declare (`ocsf-json-schema`, PyPI), `jsonschema`.
 * - ECS: ecs_flat.yml of the version we declare, as `@elastic/ecs` (npm) ships it.
 * - CEF: liblognorm's CEF parser (Debian `lognormalizer`, the rsyslog project), with the dictionary's lengths
 *   from `cefevent` (PyPI).
 * - LEEF 2.0: no independent parser is packaged here; its grammar is checked below.
 * Needs: apt-get install liblognorm-utils; python3 -m pip install ocsf-json-schema==1.2.0 jsonschema==4.26.0
 * cefevent==0.5.6 (.ci/run installs them).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is checked
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** What a parsed CEF value may not hold: its `\\n` and `\\r` escapes decode to LF and CR. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is checked
const CONTROL_BUT_CR_LF = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/;
const FIXTURES = fileURLToPath(new URL('./fixtures/siem/', import.meta.url));
const INSTALL =
  "apt-get install -y liblognorm-utils; python3 -m pip install 'ocsf-json-schema==1.2.0' 'jsonschema==4.26.0' 'cefevent==0.5.6'";

function run(command: string, args: string[], input: string): string {
  const result = spawnSync(command, args, { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.error || result.status !== 0)
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}\nInstall: ${INSTALL}`,
    );
  return result.stdout;
}

const events: Array<[string, SiemEvent]> = hostileRecords().map(([name, record]) => {
  const event = toSiemEvent(record);
  if ('unsupported' in event) throw new Error(`${name}: ${event.unsupported}`);
  return [name, event];
});
const counts: string[] = [];

describe('SIEM formats against the standards, every kind of event and hostile values', () => {
  it('covers every kind of event', () => {
    expect(new Set(events.map(([, e]) => e.kind))).toEqual(
      new Set(['tool_call', 'decision', 'approval', 'finding', 'admin']),
    );
  });

  it.each([...OCSF_VERSIONS])(
    'OCSF %s: every event valid against OCSF’s schema of the version it declares',
    (version) => {
      const lines = events.map(([, e]) => JSON.stringify(formatOcsf(e, version)));
      const report = JSON.parse(run('python3', [`${FIXTURES}validate_ocsf.py`], `${lines.join('\n')}\n`)) as {
        validator: string;
        checked: number;
        invalid: Array<{ line: number; errors: string[] }>;
      };
      const invalid = report.invalid.map((i) => `${events[i.line]![0]}: ${i.errors.join('; ')}`);
      expect(invalid).toEqual([]);
      expect(report.checked).toBe(events.length);
      counts.push(
        `OCSF ${version}: ${report.checked} events, ${invalid.length} invalid (${report.validator})`,
      );
    },
    60_000,
  );

  it(`ECS ${ECS_VERSION}: every document valid against that version's ecs_flat.yml`, () => {
    const invalid = events.flatMap(([name, e]) =>
      ecsErrors(formatEcs(e)).map((error) => `${name}: ${error}`),
    );
    expect(invalid).toEqual([]);
    counts.push(
      `ECS ${ECS_VERSION}: ${events.length} documents, 0 invalid (@elastic/ecs EcsFlat, ${Object.keys(EcsFlat).length} fields)`,
    );
  });

  it('CEF: liblognorm parses every line; every value within its dictionary length, no control character', () => {
    const lines = events.map(([, e]) => formatCef(e));
    const dictionary = JSON.parse(run('python3', [`${FIXTURES}cef_dictionary.py`], '')) as {
      source: string;
      keys: Record<string, { length: number; types: string[] }>;
    };
    const parsed = run(
      'lognormalizer',
      ['-r', `${FIXTURES}cef.rulebase`, '-e', 'json'],
      `${lines.map(liblognormInput).join('\n')}\n`,
    )
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { cef?: CefParsed; 'unparsed-data'?: string });
    expect(parsed).toHaveLength(lines.length);
    const invalid: string[] = [];
    for (const [i, result] of parsed.entries()) {
      const name = events[i]![0];
      if (!result.cef) invalid.push(`${name}: liblognorm could not parse it`);
      else invalid.push(...cefErrors(result.cef, dictionary.keys).map((e) => `${name}: ${e}`));
    }
    expect(invalid).toEqual([]);
    counts.push(
      `CEF: ${lines.length} lines, 0 invalid (liblognorm lognormalizer ${lognormVersion()}, lengths from ${dictionary.source})`,
    );
  });

  it('LEEF 2.0: header with `^` declared, every attribute key=value, no control character', () => {
    const invalid: string[] = [];
    for (const [name, e] of events) {
      const line = formatLeef(e);
      const header = splitUnescaped(line, '|', 6);
      if (header.length !== 7 || header[0] !== 'LEEF:2.0' || header[5] !== '^')
        invalid.push(`${name}: header`);
      const attributes = (header[6] ?? '').split('^');
      if (!attributes.every((a) => /^[A-Za-z][A-Za-z0-9]*=[^^]*$/.test(a)))
        invalid.push(`${name}: attributes`);
      if (CONTROL.test(line)) invalid.push(`${name}: control character`);
      if (!/(^|\^)devTime=\d{4}-\d{2}-\d{2}T/.test(header[6] ?? '')) invalid.push(`${name}: devTime`);
    }
    expect(invalid).toEqual([]);
    counts.push(`LEEF 2.0: ${events.length} lines, 0 invalid (grammar check in this test)`);
  });

  it('each check notices a broken record (the validators are not vacuous)', () => {
    const [, block] = events.find(([, e]) => e.kind === 'decision')!;
    const [, finding] = events.find(([, e]) => e.kind === 'finding')!;
    const ocsf = formatOcsf(block);
    const broken = [
      // What issue #20 found: 1.3.0 with the security_control profile; a finding's actor without the host profile.
      { ...ocsf, metadata: { ...(ocsf.metadata as object), version: '1.3.0' } },
      { ...formatOcsf(finding), metadata: { ...(formatOcsf(finding).metadata as object), profiles: [] } },
      { ...ocsf, disposition: 'Allowed' },
      { ...ocsf, severity_id: 42 },
      { ...ocsf, src_endpoint: { name: 'x', no_such_attribute: 1 } },
    ];
    const report = JSON.parse(
      run('python3', [`${FIXTURES}validate_ocsf.py`], `${broken.map((o) => JSON.stringify(o)).join('\n')}\n`),
    ) as { invalid: Array<{ line: number }> };
    expect(report.invalid.map((i) => i.line)).toEqual([0, 1, 2, 3, 4]);

    const ecs = formatEcs(block);
    expect(ecsErrors({ ...ecs, event: { ...(ecs.event as object), outcome: 'blocked' } })).not.toEqual([]);
    expect(ecsErrors({ ...ecs, agent_id: 'x' })).not.toEqual([]);
    expect(ecsErrors({ ...ecs, '@timestamp': '+010000-01-01T00:00:00.000Z' })).not.toEqual([]);

    const dictionary = JSON.parse(run('python3', [`${FIXTURES}cef_dictionary.py`], '')).keys;
    const cef = (extension: string) =>
      run(
        'lognormalizer',
        ['-r', `${FIXTURES}cef.rulebase`, '-e', 'json'],
        `${liblognormInput(`CEF:0|V|P|1|s|n|5|${extension}`)}\n`,
      );
    expect(JSON.parse(cef('msg=bad \\x escape')).cef).toBeUndefined();
    const parsed = JSON.parse(
      cef(`externalId=${'i'.repeat(41)} msg=${'m'.repeat(1_024)} outcome=${'o'.repeat(64)}`),
    ).cef;
    expect(cefErrors(parsed, dictionary)).toEqual([
      'externalId is 41 characters (max 40)',
      'msg is 1024 characters (max 1023)',
      'outcome is 64 characters (max 63)',
    ]);
  });

  it('JSON lines (NDJSON files, syslog MSG) carry no raw line break or separator', () => {
    for (const [, e] of events)
      for (const json of [formatOcsf(e), formatEcs(e)]) expect(asLine(json)).not.toMatch(CONTROL);
    console.log(`[siem-standards]\n  ${counts.join('\n  ')}`);
  });
});

// ---- CEF -------------------------------------------------------------------------------------------------------

interface CefParsed {
  DeviceVendor: string;
  DeviceProduct: string;
  DeviceVersion: string;
  SignatureID: string;
  Name: string;
  Severity: string;
  Extensions: Record<string, string>;
}

/** Header lengths from the CEF dictionary ("Implementing ArcSight CEF", rev. 25); cefevent lists none. */
const CEF_HEADER_LENGTHS: Array<[keyof CefParsed, number]> = [
  ['DeviceVendor', 63],
  ['DeviceProduct', 63],
  ['DeviceVersion', 31],
  ['SignatureID', 1023],
  ['Name', 512],
];
/** Dictionary keys cefevent's table leaves out: eventOutcome is String(63) in the CEF dictionary. */
const NOT_IN_CEFEVENT: Record<string, number> = { outcome: 63 };

/**
 * liblognorm 2.0.6 (Debian's) skips one character after the header's last `|` (parser.c: `++i; skip over
 * terminal '|'` after cefGetHdrField already consumed it), so `|rt=` would read as `t=`. A space there is
 * what it expects and what CEF allows before the first key; the header itself goes to it untouched.
 */
function liblognormInput(line: string): string {
  const header = splitUnescaped(line, '|', 7);
  return `${header.slice(0, 7).join('|')}| ${header[7] ?? ''}`;
}

/** Splits on unescaped `sep` at most `max` times (the rest stays in the last part). */
function splitUnescaped(line: string, sep: string, max: number): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < line.length && parts.length < max; i++) {
    if (line[i] === '\\') i++;
    else if (line[i] === sep) {
      parts.push(line.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(line.slice(start));
  return parts;
}

function cefErrors(
  cef: CefParsed,
  dictionary: Record<string, { length: number; types: string[] }>,
): string[] {
  const errors: string[] = [];
  for (const [field, max] of CEF_HEADER_LENGTHS)
    if (String(cef[field]).length > max)
      errors.push(`${field} is ${String(cef[field]).length} characters (max ${max})`);
  if (!/^(10|[0-9])$/.test(cef.Severity)) errors.push(`Severity ${cef.Severity}`);
  for (const [key, value] of [
    ...Object.entries(cef).filter(([, v]) => typeof v === 'string'),
    ...Object.entries(cef.Extensions),
  ])
    if (CONTROL_BUT_CR_LF.test(value as string)) errors.push(`${key} holds a control character`);
  for (const [key, value] of Object.entries(cef.Extensions)) {
    const spec = dictionary[key];
    const max = spec && spec.length > 0 ? spec.length : NOT_IN_CEFEVENT[key];
    if (spec && !spec.types.includes('String')) {
      if (!/^-?\d+$/.test(value)) errors.push(`${key}=${value.slice(0, 40)} is not a number`);
      continue;
    }
    if (max === undefined) errors.push(`${key} is not a key of the CEF dictionary`);
    else if (value.length > max) errors.push(`${key} is ${value.length} characters (max ${max})`);
  }
  if (!cef.Extensions.externalId) errors.push('no externalId');
  return errors;
}

function lognormVersion(): string {
  const out = spawnSync('lognormalizer', ['-V'], { encoding: 'utf8' });
  return /([0-9]+\.[0-9]+\.[0-9]+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? '?';
}

// ---- ECS -------------------------------------------------------------------------------------------------------

interface EcsField {
  type: string;
  normalize?: string[];
  allowed_values?: Array<{ name: string; expected_event_types?: string[] }>;
  required?: boolean;
}
const ECS = EcsFlat as unknown as Record<string, EcsField>;
/** Thoth's own fields live under `thoth.*`: a custom field set, which must not be an ECS one. */
const CUSTOM = 'thoth';
const STRINGS = new Set(['keyword', 'constant_keyword', 'wildcard', 'match_only_text', 'text']);
const INTEGERS = new Set(['long', 'integer', 'short', 'byte', 'unsigned_long']);
const NUMBERS = new Set(['float', 'double', 'half_float', 'scaled_float']);

/** Leaf fields by dotted name; arrays of scalars are one field's value. */
function flatten(value: Record<string, unknown>, prefix = ''): Array<[string, unknown]> {
  return Object.entries(value).flatMap(([key, v]) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? flatten(v as Record<string, unknown>, `${prefix}${key}.`)
      : [[`${prefix}${key}`, v] as [string, unknown]],
  );
}

function ecsErrors(document: Record<string, unknown>): string[] {
  const errors: string[] = [];
  if (Object.keys(ECS).some((f) => f.startsWith(`${CUSTOM}.`))) errors.push(`${CUSTOM} is an ECS field set`);
  const fields = new Map(flatten(document));
  for (const [name, field] of Object.entries(ECS))
    if (field.required && !fields.has(name)) errors.push(`${name} is required`);
  if (fields.get('ecs.version') !== ECS_VERSION) errors.push('ecs.version is not the validated version');
  for (const [name, value] of fields) {
    if (name.startsWith(`${CUSTOM}.`)) continue;
    if (name.startsWith('labels.')) {
      if (typeof value !== 'string') errors.push(`${name}: labels are keywords`);
      continue;
    }
    const field = ECS[name];
    if (!field) {
      errors.push(`${name} is not an ECS ${ECS_VERSION} field`);
      continue;
    }
    const isArray = field.normalize?.includes('array') ?? false;
    if (Array.isArray(value) !== isArray) errors.push(`${name} ${isArray ? 'must' : 'must not'} be an array`);
    for (const v of Array.isArray(value) ? value : [value]) {
      if (STRINGS.has(field.type) && typeof v !== 'string') errors.push(`${name}: ${field.type} is a string`);
      if (INTEGERS.has(field.type) && !Number.isInteger(v))
        errors.push(`${name}: ${field.type} is an integer`);
      if (NUMBERS.has(field.type) && typeof v !== 'number') errors.push(`${name}: ${field.type} is a number`);
      if (
        field.type === 'date' &&
        !(typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(v))
      )
        errors.push(`${name}: ${String(v)} is not a date with a four-digit year`);
      if (field.allowed_values && !field.allowed_values.some((a) => a.name === v))
        errors.push(`${name}: ${String(v)} is not an allowed value`);
    }
  }
  // event.type must be one the categories expect.
  const categories = (fields.get('event.category') as string[] | undefined) ?? [];
  const types = (fields.get('event.type') as string[] | undefined) ?? [];
  for (const category of categories) {
    const expected = ECS['event.category']?.allowed_values?.find(
      (a) => a.name === category,
    )?.expected_event_types;
    for (const type of types)
      if (expected && !expected.includes(type))
        errors.push(`event.type ${type} is not expected for ${category}`);
  }
  return errors;
}

import { describe, expect, it } from 'vitest';
import type { HttpError } from './http-error.ts';
import {
  MAX_BODY_MEMBERS,
  MAX_BODY_VALUES,
  MAX_JSON_DEPTH,
  parseJsonBody,
  parseJsonBodyThen,
  SCAN_SLICE_CHARS,
  SMALL_BODY_CHARS,
  scanJsonText,
} from './json-body.ts';

describe('parseJsonBody', () => {
  it('parses ordinary JSON and treats an empty body as absent', async () => {
    expect(await parseJsonBody('{"a":[1,{"b":null}]}')).toEqual({ a: [1, { b: null }] });
    expect(await parseJsonBody('  ')).toBeUndefined();
  });

  it('refuses deep nesting, non-finite numbers and invalid JSON with a 400', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    await expect(parseJsonBody(deep)).rejects.toThrow(/nested deeper/);
    const deepest = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`;
    await expect(parseJsonBody(deepest)).resolves.toBeDefined();
    await expect(parseJsonBody('{"n":1e309}')).rejects.toThrow(/too large/);
    await expect(parseJsonBody('{"n":-1e309}')).rejects.toThrow(/too large/);
    await expect(parseJsonBody('[1E+309]')).rejects.toThrow(/too large/);
    await expect(parseJsonBody('[0.5e0400]')).rejects.toThrow(/too large/);
    await expect(parseJsonBody(`[${'9'.repeat(309)}]`)).rejects.toThrow(/too large/);
    // Look-alikes are parsed and checked, not refused: a finite big number, an exponent inside a string.
    expect(await parseJsonBody('{"n":1.5e308,"s":"e999"}')).toEqual({ n: 1.5e308, s: 'e999' });
    await expect(parseJsonBody('{"n":')).rejects.toThrow(
      expect.objectContaining({ statusCode: 400, code: 'invalid_json' }),
    );
  });

  it('gives a small body (parsed, then walked) the verdict the scan gives a large one', async () => {
    const nested = (levels: number, inner = '1') =>
      `${'[{"a":'.repeat(levels / 2)}${inner}${'}]'.repeat(levels / 2)}`;
    const bodies = [
      '{"a":[1,{"b":null}],"s":"[[[[{{{{"}',
      nested(MAX_JSON_DEPTH),
      nested(MAX_JSON_DEPTH + 2),
      `${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`,
      nested(MAX_JSON_DEPTH - 2, '[[]]'),
      nested(MAX_JSON_DEPTH - 2, '[{}]'),
      nested(MAX_JSON_DEPTH - 2, '[1e999]'),
      nested(10, '-1e309'),
      '{"n":1.5e308,"s":"e999","t":"1e999"}',
      '{"n":',
      '[1,]',
    ];
    const verdict = (body: string) =>
      parseJsonBody(body).then(
        (value) => ({ value }),
        (error: { statusCode: number; message: string }) => ({
          status: error.statusCode,
          message: error.message,
        }),
      );
    for (const body of bodies) {
      expect(body.length).toBeLessThanOrEqual(SMALL_BODY_CHARS);
      const padded = `${body}${' '.repeat(SMALL_BODY_CHARS)}`;
      expect(await verdict(body), body).toEqual(await verdict(padded));
    }
    await expect(parseJsonBody(nested(MAX_JSON_DEPTH + 2))).rejects.toThrow(/nested deeper/);
    await expect(parseJsonBody(nested(10, '-1e309'))).rejects.toThrow(/too large/);
    expect(await parseJsonBody(nested(MAX_JSON_DEPTH))).toBeDefined();
  });

  it('answers a small body within the call and a large one after its scan, once each (parseJsonBodyThen)', async () => {
    const answers: unknown[] = [];
    const record = (error: Error | null, value?: unknown) =>
      answers.push(error ? (error as HttpError).code : value);
    parseJsonBodyThen('{"a":1}', record);
    parseJsonBodyThen('{"a":', record);
    parseJsonBodyThen(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`, record);
    expect(answers).toEqual([{ a: 1 }, 'invalid_json', 'invalid_json']);
    const large = `{"a":[${'1,'.repeat(SMALL_BODY_CHARS)}1]}`;
    parseJsonBodyThen(large, record);
    parseJsonBodyThen(`${large} x`, record);
    expect(answers).toHaveLength(3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(answers).toHaveLength(5);
    expect((answers[3] as { a: number[] }).a).toHaveLength(SMALL_BODY_CHARS + 1);
    expect(answers[4]).toBe('invalid_json');
  });

  it('checks a body of long digit runs in linear time (no backtracking before authentication)', async () => {
    const run = '9'.repeat(308);
    const body = `[${Array.from({ length: 15_500 }, () => run).join(',')}]`;
    const started = performance.now();
    expect(Array.isArray(await parseJsonBody(body))).toBe(true);
    // The regular expression this replaced took about 11 s on this body.
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('refuses a body of more keys than MAX_BODY_MEMBERS before parsing it, counting none inside strings', async () => {
    const keys = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":1`).join(',')}}`;
    await expect(parseJsonBody(keys(MAX_BODY_MEMBERS + 1))).rejects.toThrow(
      expect.objectContaining({ statusCode: 413, code: 'payload_too_large' }),
    );
    expect(Object.keys((await parseJsonBody(keys(1_000))) as object)).toHaveLength(1_000);
    expect(scanJsonText('{"a:b":"c:d\\":","e":[5,"1e999",true]}')).toEqual({
      tooDeep: false,
      members: 2,
      values: 5,
      maybeHugeNumber: false,
    });
    expect(scanJsonText('[1e5]').maybeHugeNumber).toBe(true);
  });

  it('refuses a number that overflows through a long mantissa and a short exponent', async () => {
    await expect(parseJsonBody(`{"n":${'9'.repeat(250)}e60}`)).rejects.toThrow(/too large/);
    expect(await parseJsonBody('{"n":1.5e60}')).toEqual({ n: 1.5e60 });
  });

  it('refuses a body of more values than MAX_BODY_VALUES before parsing it', async () => {
    await expect(parseJsonBody(`[${'{},'.repeat(MAX_BODY_VALUES)}{}]`)).rejects.toThrow(
      expect.objectContaining({ statusCode: 413, code: 'payload_too_large' }),
    );
  });

  it('scans in slices exactly as in one pass, wherever a slice ends (inside an escape, a number, an exponent)', async () => {
    const pieces = Array.from(
      { length: 12 },
      (_, i) =>
        `{"k${i}":"${'x'.repeat(i)}\\\\\\":[,{","n":${i}e${i % 3},"d":[[${'9'.repeat(i * 25)}]],"v":[true]}`,
    );
    const body = `[${pieces.join(',')}]`;
    const whole = scanJsonText(body);
    expect(whole.members).toBe(pieces.length * 4);
    expect(whole.maybeHugeNumber).toBe(true);
    for (let slice = 1; slice <= 80; slice++) expect(scanJsonText(body, slice)).toEqual(whole);
    // Through parseJsonBody, a body over one slice of the event loop: the same value as JSON.parse gives.
    const large = `[${Array.from({ length: Math.ceil((SCAN_SLICE_CHARS * 1.5) / body.length) }, () => body).join(',')}]`;
    expect(JSON.stringify(await parseJsonBody(large))).toBe(JSON.stringify(JSON.parse(large)));
  });

  it('gives the event loop back while it scans a large body, and stops at the first limit passed', async () => {
    const payload = `{${Array.from({ length: 250_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const turns = new Promise((resolve) => setImmediate(resolve));
    let settled = false;
    const parsed = parseJsonBody(payload).finally(() => {
      settled = true;
    });
    await turns;
    // One slice scanned, the answer not known yet: the loop ran other work in between.
    expect(settled).toBe(false);
    await expect(parsed).rejects.toThrow(expect.objectContaining({ statusCode: 413 }));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    // The count stopped just past the limit, not at the end of the text.
    const shape = scanJsonText(payload);
    expect(shape.members).toBe(MAX_BODY_MEMBERS + 1);
  });
});

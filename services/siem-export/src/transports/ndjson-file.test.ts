import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatOcsf } from '../formats/ocsf.ts';
import { SAMPLE_RECORDS } from '../formats/sample-records.ts';
import { toSiemEvent } from '../siem-event.ts';
import { NdjsonFileTransport } from './ndjson-file.ts';
import type { DeliveryItem } from './transport.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function items(n: number): DeliveryItem[] {
  const event = toSiemEvent(SAMPLE_RECORDS['decision-block']!);
  if ('unsupported' in event) throw new Error(event.unsupported);
  return Array.from({ length: n }, (_, i) => {
    const e = { ...event, id: `e${i}` };
    return { event: e, formatted: formatOcsf(e) };
  });
}

describe('rotated NDJSON files', () => {
  it('rotates by size and age, publishing only complete files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'siem-ndjson-'));
    dirs.push(dir);
    let now = 1_000_000;
    const transport = new NdjsonFileTransport({
      dir,
      prefix: 'acme',
      maxBytes: 3_000,
      maxAgeMs: 60_000,
      now: () => now,
    });
    await transport.deliver(items(3));
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson'))).toHaveLength(1); // 3 events > 3 kB: rotated
    await transport.deliver(items(1));
    expect(readdirSync(dir).filter((f) => f.endsWith('.part'))).toHaveLength(1);
    now += 60_000;
    await transport.deliver(items(1)); // the open file is too old: closed before writing
    await transport.close();
    const files = readdirSync(dir).sort();
    expect(files.every((f) => /^acme-\d{8}T\d{9}Z-\d{6}\.ndjson$/.test(f))).toBe(true);
    const lines = files.flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'));
    expect(lines.map((l) => (JSON.parse(l) as { metadata: { uid: string } }).metadata.uid)).toEqual([
      'e0',
      'e1',
      'e2',
      'e0',
      'e0',
    ]);
  });

  it('recovers a crashed .part file up to its last complete line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'siem-ndjson-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'acme-20260101T000000000Z-000000.ndjson.part'), '{"a":1}\n{"b":');
    const transport = new NdjsonFileTransport({ dir, prefix: 'acme', maxBytes: 1_000_000, maxAgeMs: 60_000 });
    void transport.close();
    expect(readFileSync(join(dir, 'acme-20260101T000000000Z-000000.ndjson'), 'utf8')).toBe('{"a":1}\n');
  });
});

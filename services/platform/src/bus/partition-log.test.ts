import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PartitionLog } from './partition-log.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function path(): string {
  const dir = mkdtempSync(join(tmpdir(), 'plog-'));
  dirs.push(dir);
  return join(dir, '0.log');
}

const item = (key: string, value: string | null) => ({
  key,
  value: value === null ? null : Buffer.from(value),
  headers: { h: key },
  timestamp: 1,
});

describe('PartitionLog', () => {
  it('survives a torn last write (a process killed mid-append): whole records stay, the tail is cut', async () => {
    const file = path();
    const log = await PartitionLog.open(file);
    await log.append([item('a', '1'), item('b', null)]);
    await log.close();
    const good = statSync(file).size;
    appendFileSync(file, Buffer.from([0, 0, 0, 99, 1, 2, 3])); // a frame header promising 99 bytes, then 3
    const reopened = await PartitionLog.open(file);
    expect(
      reopened.read(0, 10).map((r) => [r.offset, r.key, r.value?.toString() ?? null, r.headers.h]),
    ).toEqual([
      [0, 'a', '1', 'a'],
      [1, 'b', null, 'b'],
    ]);
    expect(statSync(file).size).toBe(good);
    await reopened.append([item('c', '3')]);
    expect(reopened.endOffset).toBe(3);
    await reopened.close();
    expect(readFileSync(file).length).toBeGreaterThan(good);
  });

  it('keeps offsets when records are dropped at load (retention and compaction)', async () => {
    const file = path();
    const log = await PartitionLog.open(file);
    await log.append([item('a', '1'), item('b', '2'), item('c', '3')]);
    await log.close();
    const trimmed = await PartitionLog.open(file, (records) => records.filter((r) => r.offset >= 2));
    expect(trimmed.startOffset).toBe(2);
    expect(trimmed.endOffset).toBe(3);
    expect(trimmed.read(0, 10).map((r) => r.key)).toEqual(['c']);
    await trimmed.close();
  });

  it('bounds a read by bytes as well as by count, and always returns at least one record', async () => {
    const log = await PartitionLog.open(path());
    await log.append([item('a', 'x'.repeat(40)), item('b', 'x'.repeat(40)), item('c', null), item('d', '1')]);
    expect(log.read(0, 10, 50).map((r) => r.key)).toEqual(['a']);
    expect(log.read(0, 10, 80).map((r) => r.key)).toEqual(['a', 'b', 'c']);
    expect(log.read(0, 2, 1_000).map((r) => r.key)).toEqual(['a', 'b']);
    expect(log.read(1, 10, 1).map((r) => r.key)).toEqual(['b']);
    await log.close();
  });
});

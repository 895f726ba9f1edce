import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startSemiSpaceMb } from './semi-space.ts';

describe('startSemiSpaceMb', () => {
  it('reads the flag from node flags and NODE_OPTIONS, the command line winning, in either spelling', () => {
    expect(startSemiSpaceMb([])).toBe(0);
    expect(startSemiSpaceMb(['--max-semi-space-size=16'])).toBe(16);
    expect(startSemiSpaceMb(['--max_semi_space_size=8'])).toBe(8);
    expect(startSemiSpaceMb([], '--max-semi-space-size=32 --enable-source-maps')).toBe(32);
    expect(startSemiSpaceMb([], '"--max-semi-space-size=32"')).toBe(32);
    expect(startSemiSpaceMb(['--max-semi-space-size=16'], '--max-semi-space-size=32')).toBe(16);
    expect(startSemiSpaceMb(['--max-old-space-size=4096', '--inspect'])).toBe(0);
  });
});

describe('startPureThread with a semi-space of its own (withSemiSpace)', () => {
  it('gives the thread its size, then puts the process flag back, also after a thread that never ran', () => {
    // A process started as Thoth is (--max-semi-space-size=16). Each thread reports its heap's size limit, which
    // counts the young generation at its maximum: the semi-space it was created with shows there.
    const dir = mkdtempSync(join(tmpdir(), 'thoth-semi-space-'));
    const report = join(dir, 'report.mjs');
    writeFileSync(
      report,
      "import { getHeapStatistics } from 'node:v8';\n" +
        "import { parentPort } from 'node:worker_threads';\n" +
        'parentPort.postMessage(getHeapStatistics().heap_size_limit);\n',
    );
    const script = `
      import { once } from 'node:events';
      import { getHeapStatistics } from 'node:v8';
      import { pathToFileURL } from 'node:url';
      const { startPureThread } = await import(${JSON.stringify(new URL('./pure-thread.ts', import.meta.url).href)});
      const module = pathToFileURL(${JSON.stringify(report)});
      const limitOf = async (worker) => (await once(worker, 'message'))[0];
      const mb = (bytes) => bytes / 1048576;

      const ownLimit = await limitOf(startPureThread(module, null, { semiSpaceMb: 64 }));
      const laterLimit = await limitOf(startPureThread(module, null));
      // A thread that ends before it ever runs still puts the flag back.
      const neverRan = startPureThread(module, null, { semiSpaceMb: 64 });
      await neverRan.terminate();
      const afterLimit = await limitOf(startPureThread(module, null));
      const main = getHeapStatistics().heap_size_limit;
      console.log(JSON.stringify({
        ownOverLaterMb: mb(ownLimit - laterLimit),
        laterIsMain: laterLimit === main,
        afterIsMain: afterLimit === main,
      }));`;
    try {
      const out = execFileSync(
        process.execPath,
        ['--max-semi-space-size=16', '--import', 'tsx', '--input-type=module', '-e', script],
        { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
      );
      const result = JSON.parse(out.trim().split('\n').pop() ?? '');
      // At least the two semi-spaces of 64 MB instead of 16 (V8 also counts the new large-object space).
      expect(result.ownOverLaterMb).toBeGreaterThanOrEqual(2 * (64 - 16));
      expect(result).toMatchObject({ laterIsMain: true, afterIsMain: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

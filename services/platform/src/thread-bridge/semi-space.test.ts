import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startSemiSpaceMb } from './semi-space.ts';

describe('startSemiSpaceMb', () => {
  it('reads the flag from node flags and NODE_OPTIONS, the command line winning, in either spelling', () => {
    expect(startSemiSpaceMb([])).toBe(0);
    expect(startSemiSpaceMb(['--max-semi-space-size=16'])).toBe(16);
    expect(startSemiSpaceMb(['--max_semi_space_size', '8'])).toBe(8);
    expect(startSemiSpaceMb([], '--max-semi-space-size=32 --enable-source-maps')).toBe(32);
    expect(startSemiSpaceMb(['--max-semi-space-size=16'], '--max-semi-space-size=32')).toBe(16);
    expect(startSemiSpaceMb(['--max-old-space-size=4096', '--inspect'])).toBe(0);
  });
});

describe('withSemiSpace', () => {
  it('gives a thread its own semi-space, then puts the process flag back for the next thread', () => {
    // A process started as Thoth is (--max-semi-space-size=16): each thread churns through objects that survive
    // (so V8 grows its young generation to the maximum) and reports the size of its new space (two semi-spaces).
    const script = `
      import { once } from 'node:events';
      import { Worker } from 'node:worker_threads';
      const { withSemiSpace } = await import(${JSON.stringify(new URL('./semi-space.ts', import.meta.url).href)});
      const churn = \`
        const v8 = require('node:v8');
        let keep = [];
        for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 2e5) keep = []; }
        const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
        require('node:worker_threads').parentPort?.postMessage(space.space_size / 1048576);
        globalThis.newSpaceMb = space.space_size / 1048576;\`;
      const own = withSemiSpace(64, () => new Worker(churn, { eval: true, execArgv: [] }), (w) => once(w, 'online'));
      const [ownMb] = await once(own, 'message');
      const [laterMb] = await once(new Worker(churn, { eval: true, execArgv: [] }), 'message');
      new Function('require', churn)((await import('node:module')).createRequire(import.meta.url));
      console.log(JSON.stringify({ ownMb, laterMb, mainMb: globalThis.newSpaceMb }));`;
    const out = execFileSync(
      process.execPath,
      ['--max-semi-space-size=16', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect(JSON.parse(out.trim().split('\n').pop() ?? '')).toEqual({ ownMb: 128, laterMb: 32, mainMb: 32 });
  }, 60_000);
});

import { describe, expect, it } from 'vitest';
import {
  CALM_MS,
  CHECK_MS,
  nextShare,
  parseCpuList,
  SHARE_AFTER_MS,
  type ShareState,
  splitCpus,
} from './api-cpu.ts';

describe('parseCpuList', () => {
  it('reads the kernel list format', () => {
    expect(parseCpuList('0')).toEqual([0]);
    expect(parseCpuList('0-1\n')).toEqual([0, 1]);
    expect(parseCpuList('0-3,5,7-8')).toEqual([0, 1, 2, 3, 5, 7, 8]);
  });
  it('refuses what is not a list', () => {
    expect(() => parseCpuList('ff')).toThrow(/not a CPU list/);
    expect(() => parseCpuList('1-')).toThrow(/not a CPU list/);
  });
});

describe('splitCpus', () => {
  it('gives the API thread the lowest allowed CPU and the background the rest', () => {
    expect(splitCpus([0, 1])).toEqual({ api: 0, background: [1] });
    expect(splitCpus([5, 3, 4])).toEqual({ api: 3, background: [4, 5] });
    expect(splitCpus([0, 2])).toEqual({ api: 0, background: [2] });
  });
  it('leaves one CPU shared', () => {
    expect(splitCpus([2])).toBeUndefined();
    expect(splitCpus([2, 2])).toBeUndefined();
    expect(splitCpus([])).toBeUndefined();
  });
});

describe('nextShare', () => {
  const own: ShareState = { share: 'own', calmMs: 0 };
  it('shares the API CPU once the oldest pending event waited over SHARE_AFTER_MS', () => {
    expect(nextShare(own, SHARE_AFTER_MS, CHECK_MS)).toEqual(own);
    expect(nextShare(own, SHARE_AFTER_MS + 1, CHECK_MS)).toEqual({ share: 'shared', calmMs: 0 });
  });
  it('takes it back once the backlog stayed low for CALM_MS of checks in a row, and only then', () => {
    const calmChecks = CALM_MS / CHECK_MS;
    expect(Number.isInteger(calmChecks) && calmChecks > 1).toBe(true);
    let state: ShareState = { share: 'shared', calmMs: 0 };
    for (let i = 1; i < calmChecks; i++) {
      state = nextShare(state, 100, CHECK_MS);
      expect(state).toEqual({ share: 'shared', calmMs: i * CHECK_MS });
    }
    expect(nextShare(state, 600, CHECK_MS)).toEqual({ share: 'shared', calmMs: 0 }); // not calm: counting starts over
    expect(nextShare(state, 100, CHECK_MS)).toEqual(own);
    // Checks further apart count for more.
    expect(nextShare({ share: 'shared', calmMs: 0 }, 100, CALM_MS)).toEqual(own);
  });
});

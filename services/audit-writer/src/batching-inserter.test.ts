import { describe, expect, it } from 'vitest';
import { BatchingInserter, type FlushStages } from './batching-inserter.ts';

/** Stages that record what they were asked, and whose stores wait for the test to let them finish. */
function recordingStages() {
  const log: string[] = [];
  const gates: Array<{ open: () => void; fail: (e: Error) => void }> = [];
  const stages: FlushStages<number[], number[]> = {
    open: () => [],
    prepare: async (rows) => {
      log.push(`prepare ${rows.join(',')}`);
      return rows;
    },
    store: (rows) => {
      log.push(`store ${rows.join(',')}`);
      return new Promise<void>((resolve, reject) => {
        gates.push({
          open: () => {
            log.push(`stored ${rows.join(',')}`);
            resolve();
          },
          fail: reject,
        });
      });
    },
    reset: () => log.push('reset'),
  };
  return { log, gates, stages };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

/** Gathers `rows` into the inserter's flush, as a writer does with a batch's rows. */
const add = (inserter: BatchingInserter<number[], number[]>, rows: number[]) =>
  inserter.add((flush) => {
    flush.push(...rows);
    return rows.length;
  });

describe('BatchingInserter', () => {
  it('prepares the next flush while the one before it is stored, and stores them in order', async () => {
    const { log, gates, stages } = recordingStages();
    const inserter = new BatchingInserter(stages, 2, 1_000);
    const first = add(inserter, [1, 2]);
    await tick();
    const second = add(inserter, [3, 4]);
    await tick();
    // The second flush is prepared while the first is stored; its store waits for the first one.
    expect(log).toEqual(['prepare 1,2', 'store 1,2', 'prepare 3,4']);
    gates[0]!.open();
    await first;
    await tick();
    expect(log.slice(3)).toEqual(['stored 1,2', 'store 3,4']);
    gates[1]!.open();
    await second;
  });

  it('gathers rows while the stages are busy: a flush takes what arrived during the store before it', async () => {
    const { log, gates, stages } = recordingStages();
    const inserter = new BatchingInserter(stages, 100, 5);
    const adds = [add(inserter, [1])];
    await tick();
    await tick();
    adds.push(add(inserter, [2]));
    await tick();
    await tick();
    // [2] was prepared while [1] is stored; [3] and [4] wait their turn together, past their own wait.
    adds.push(add(inserter, [3]));
    await tick();
    adds.push(add(inserter, [4]));
    await tick();
    await tick();
    expect(log).toEqual(['prepare 1', 'store 1', 'prepare 2']);
    gates[0]!.open();
    await tick();
    expect(log.slice(3)).toEqual(['stored 1', 'store 2', 'prepare 3,4']);
    gates[1]!.open();
    await tick();
    gates[2]!.open();
    await Promise.all(adds);
    expect(log.slice(6)).toEqual(['stored 2', 'store 3,4', 'stored 3,4']);
  });

  it('a failed store fails the flushes prepared and gathering behind it, unstored; later rows start afresh', async () => {
    const { log, gates, stages } = recordingStages();
    const inserter = new BatchingInserter(stages, 2, 1_000);
    const first = add(inserter, [1, 2]);
    await tick();
    const second = add(inserter, [3, 4]);
    const gathering = add(inserter, [5]);
    await tick();
    gates[0]!.fail(new Error('insert failed'));
    await expect(first).rejects.toThrow('insert failed');
    await expect(second).rejects.toThrow('insert failed');
    await expect(gathering).rejects.toThrow('insert failed');
    expect(log).toEqual(['prepare 1,2', 'store 1,2', 'prepare 3,4', 'reset']);
    // The bus delivers the failed rows again: they are prepared and stored as new.
    const again = add(inserter, [1, 2]);
    await tick();
    gates[1]!.open();
    await again;
    expect(log.slice(4)).toEqual(['prepare 1,2', 'store 1,2', 'stored 1,2']);
  });

  it('a failed prepare fails its flush after the store before it finished', async () => {
    const { log, gates, stages } = recordingStages();
    let failPrepare = false;
    const inserter = new BatchingInserter<number[], number[]>(
      {
        ...stages,
        prepare: async (rows) => {
          if (failPrepare) throw new Error('lookup failed');
          return stages.prepare(rows);
        },
      },
      2,
      1_000,
    );
    const first = add(inserter, [1, 2]);
    await tick();
    failPrepare = true;
    const second = add(inserter, [3, 4]);
    await tick();
    let secondDone = false;
    second.catch(() => {}).finally(() => (secondDone = true));
    await tick();
    expect(secondDone).toBe(false);
    gates[0]!.open();
    await first;
    await expect(second).rejects.toThrow('lookup failed');
    expect(log).toEqual(['prepare 1,2', 'store 1,2', 'stored 1,2', 'reset']);
  });

  it('under a steady stream, flushes cut by time start at least minIntervalMs apart; after a quiet spell a row waits maxWaitMs', async () => {
    const { log, gates, stages } = recordingStages();
    const cutAt: number[] = [];
    const timed: FlushStages<number[], number[]> = {
      ...stages,
      prepare: (rows) => {
        cutAt.push(performance.now());
        return stages.prepare(rows);
      },
      store: (rows) => {
        const stored = stages.store(rows);
        gates.at(-1)!.open(); // stores finish at once: only the spacing holds a flush back
        return stored;
      },
    };
    const inserter = new BatchingInserter(timed, 1_000, 5, 120);
    const adds: Array<Promise<void>> = [];
    const started = performance.now();
    // A row every 10 ms for 400 ms: a flush every 5 ms would make about 40 of them.
    for (let row = 1; performance.now() - started < 400; row++) {
      adds.push(add(inserter, [row]));
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(adds);
    expect(cutAt.length).toBeGreaterThanOrEqual(3);
    expect(cutAt.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < cutAt.length; i++) expect(cutAt[i]! - cutAt[i - 1]!).toBeGreaterThanOrEqual(115);
    // Every row stored once, in order.
    const stored = log
      .filter((l) => l.startsWith('stored '))
      .flatMap((l) => l.slice(7).split(',').map(Number));
    expect(stored).toEqual(stored.map((_, i) => i + 1));
    // Quiet for longer than the interval: the next row is cut after maxWaitMs, not the interval.
    await new Promise((r) => setTimeout(r, 150));
    const lone = performance.now();
    await add(inserter, [9_999]);
    expect(performance.now() - lone).toBeLessThan(60);
  });

  it('a full flush goes at once, whatever the interval', async () => {
    const { log, gates, stages } = recordingStages();
    const inserter = new BatchingInserter(stages, 2, 1_000, 10_000);
    const first = add(inserter, [1, 2]);
    await tick();
    gates[0]!.open();
    await first;
    const second = add(inserter, [3, 4]);
    await tick();
    expect(log).toEqual(['prepare 1,2', 'store 1,2', 'stored 1,2', 'prepare 3,4', 'store 3,4']);
    gates[1]!.open();
    await second;
  });
});

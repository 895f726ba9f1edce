import { describe, expect, it } from 'vitest';
import { PartitionLane } from './partition-lane.ts';

/** A handler the test settles by hand. */
function gate() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { handle: () => promise, resolve, reject };
}

function lane(limit: number, active = () => true) {
  const commits: string[] = [];
  const l = new PartitionLane(
    limit,
    async (next) => void commits.push(next),
    () => {},
    () => {},
    active,
  );
  return { lane: l, commits };
}

describe('PartitionLane', () => {
  it('commits the resolved prefix in order, never past a batch still running', async () => {
    const { lane: l, commits } = lane(3);
    const [a, b, c] = [gate(), gate(), gate()];
    expect(await l.start('0', '9', a.handle)).toBe(true);
    expect(await l.start('10', '19', b.handle)).toBe(true);
    expect(await l.start('20', '29', c.handle)).toBe(true);
    b.resolve();
    c.resolve();
    await new Promise((r) => setTimeout(r, 5));
    expect(commits).toEqual([]);
    a.resolve();
    await l.settled();
    expect(commits).toEqual(['30']);
  });

  it('is busy while a handler runs or a commit it earned is under way', async () => {
    let finishCommit!: () => void;
    const committed = new Promise<void>((resolve) => {
      finishCommit = resolve;
    });
    const l = new PartitionLane(
      1,
      () => committed,
      () => {},
      () => {},
      () => true,
    );
    const a = gate();
    expect(l.busy).toBe(false);
    await l.start('0', '9', a.handle);
    expect(l.busy).toBe(true);
    a.resolve();
    await new Promise((r) => setTimeout(r, 5));
    expect(l.busy).toBe(true);
    finishCommit();
    await l.settled();
    expect(l.busy).toBe(false);
  });

  it('waits for room: at most `limit` handlers at once', async () => {
    const { lane: l, commits } = lane(1);
    const a = gate();
    await l.start('0', '4', a.handle);
    let second = false;
    const starting = l.start('5', '9', async () => {
      second = true;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(second).toBe(false);
    a.resolve();
    expect(await starting).toBe(true);
    await l.settled();
    expect(second).toBe(true);
    expect(commits).toEqual(['5', '10']);
  });

  it('after a failure: nothing from the failed batch on commits, nothing starts, until reset', async () => {
    const { lane: l, commits } = lane(3);
    const [a, b, c] = [gate(), gate(), gate()];
    await l.start('0', '9', a.handle);
    await l.start('10', '19', b.handle);
    await l.start('20', '29', c.handle);
    c.resolve();
    b.reject(new Error('boom'));
    await new Promise((r) => setTimeout(r, 5));
    expect(l.failure?.offset).toBe('10');
    expect(await l.start('30', '39', async () => {})).toBe(false);
    a.resolve();
    await l.settled();
    expect(commits).toEqual(['10']);
    l.reset();
    expect(l.failure).toBeUndefined();
    expect(await l.start('10', '19', async () => {})).toBe(true);
    await l.settled();
    expect(commits).toEqual(['10', '20']);
  });

  it('an earlier batch failing later still wins: the rewind goes to the first failure', async () => {
    const { lane: l, commits } = lane(2);
    const [a, b] = [gate(), gate()];
    await l.start('0', '9', a.handle);
    await l.start('10', '19', b.handle);
    b.reject(new Error('second'));
    await new Promise((r) => setTimeout(r, 5));
    a.reject(new Error('first'));
    await l.settled();
    expect(l.failure?.offset).toBe('0');
    expect(commits).toEqual([]);
  });

  it('waits longer before each rewind in a row, and starts over once a handler resolves', async () => {
    const { lane: l } = lane(1);
    const fail = async () => {
      await l.start('0', '4', async () => {
        throw new Error('boom');
      });
      await l.settled();
    };
    await fail();
    expect(l.retryDelayMs).toBe(100);
    l.reset();
    await fail();
    expect(l.retryDelayMs).toBe(200);
    l.reset();
    await l.start('0', '4', async () => {});
    await l.settled();
    await fail();
    expect(l.retryDelayMs).toBe(100);
  });

  it('starts nothing once the subscription stopped', async () => {
    let running = true;
    const { lane: l } = lane(1, () => running);
    const a = gate();
    await l.start('0', '4', a.handle);
    const starting = l.start('5', '9', async () => {});
    running = false;
    a.resolve();
    expect(await starting).toBe(false);
  });
});

// The guard itself: it must see a loop held by work or by a blocking wait, and nothing on an idle loop.
import { expect, it } from 'vitest';
import { watchEventLoop } from './stall-guard.ts';

it('sees a busy loop and a blocking wait, not an idle one', async () => {
  const g = watchEventLoop(100);
  await new Promise((r) => setTimeout(r, 200));
  expect(g.maxMs()).toBeLessThan(30);
  // 250 ms of this process's CPU, not of the wall clock: the guard does not count time the thread waited for a
  // core (a shared machine's load), and a wall-clock spin on a busy machine holds the loop for less than that.
  const start = process.cpuUsage();
  const cpuMs = () => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
  while (cpuMs() < 250) {}
  await new Promise((r) => setTimeout(r, 20));
  expect(g.maxMs()).toBeGreaterThan(200);
  g.stop();
  const g2 = watchEventLoop(100);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  await new Promise((r) => setTimeout(r, 20));
  expect(g2.maxMs()).toBeGreaterThan(150);
  g2.stop();
});

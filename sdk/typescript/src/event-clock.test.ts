import { expect, it } from 'vitest';
import { EventClock } from './event-clock.ts';

it('never repeats a millisecond, so PRE sorts before POST', () => {
  const clock = new EventClock(() => 1_000);
  expect(clock.next().getTime()).toBe(1_000);
  expect(clock.next().getTime()).toBe(1_001);
});

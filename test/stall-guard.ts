import { readFileSync } from 'node:fs';

/**
 * Watches this process's event loop while a test runs and reports the longest time it was held. Tests that
 * build the app with `inject()` (or start it in process) share its loop, so a stall of the server is a stall
 * seen here.
 *
 * "Held" means the loop's thread could not get back to its timers: a timer samples every few milliseconds, and
 * the gap between two samples counts less the time the thread waited on the run queue for a core (Linux:
 * /proc/self/task/<pid>/schedstat). Being kept off the CPU by the machine's other work — both cores busy while a
 * whole suite runs in parallel — is not a stall of ours; computing or blocking on the loop's thread is. Where
 * schedstat is missing, the gap's wall time counts.
 */
export interface StallGuard {
  /** Longest time the event loop was held so far, in milliseconds. */
  maxMs(): number;
  /** Stops watching and throws when the loop was held longer than the budget. */
  check(what?: string): number;
  stop(): void;
}

const SAMPLE_MS = 5;
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

/** Milliseconds the main thread has waited on the run queue, or undefined where the kernel does not tell. */
function runQueueWaitMs(): number | undefined {
  try {
    // "<ns on the CPU> <ns waiting on a run queue> <timeslices>"
    return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return undefined;
  }
}

export function watchEventLoop(budgetMs: number): StallGuard {
  let lastWall = performance.now();
  let lastWait = runQueueWaitMs();
  let longest = 0;
  let longestWall = 0;
  const sample = () => {
    const wall = performance.now();
    const wait = runQueueWaitMs();
    const gap = wall - lastWall - SAMPLE_MS;
    const held = wait === undefined || lastWait === undefined ? gap : gap - (wait - lastWait);
    longest = Math.max(longest, held);
    longestWall = Math.max(longestWall, gap);
    lastWall = wall;
    lastWait = wait;
  };
  const timer = setInterval(sample, SAMPLE_MS);
  const stop = () => clearInterval(timer);
  return {
    maxMs: () => longest,
    check(what = 'the test') {
      sample();
      stop();
      if (longest > budgetMs)
        throw new Error(
          `the event loop was held ${longest.toFixed(1)} ms during ${what} (budget ${budgetMs} ms; longest gap ` +
            `between two samples ${longestWall.toFixed(1)} ms)`,
        );
      return longest;
    },
    stop,
  };
}

/** Runs `work` under a stall guard: fails when the event loop was held longer than `budgetMs` meanwhile. */
export async function withinStallBudget<T>(
  budgetMs: number,
  what: string,
  work: () => Promise<T>,
): Promise<T> {
  const guard = watchEventLoop(budgetMs);
  try {
    const result = await work();
    guard.check(what);
    return result;
  } finally {
    guard.stop();
  }
}

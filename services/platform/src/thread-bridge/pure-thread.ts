import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { withSemiSpace } from './semi-space.ts';

const BOOTSTRAP = new URL('./pure-thread-worker.mjs', import.meta.url);

/**
 * The module `name` next to the module whose `import.meta.url` is `base`, with that module's extension: `.js` when
 * Thoth runs compiled (dist/), `.ts` when its sources run (tests, benchmarks). For a thread's body.
 */
export function siblingModule(base: string, name: string): URL {
  const extension = /\.[cm]?[jt]s$/.exec(new URL(base).pathname)?.[0] ?? '.js';
  return new URL(`./${name}${extension}`, base);
}

/** Heap sizes of a pure thread, in MB; the process's where not given. */
export interface ThreadHeapLimits {
  /** The old generation: a runaway job ends the thread, not the process. */
  maxOldGenerationMb?: number;
  /** The young generation's semi-space (semi-space.ts): its own, whatever the process was started with. */
  semiSpaceMb?: number;
}

/**
 * A worker thread that runs the module `module` (a file URL, compiled JavaScript or TypeScript) with `data` as its
 * `workerData.data`, for CPU-heavy work kept off the event loop. chDB fails to resolve there
 * (pure-thread-worker.mjs), since it must never be loaded off the main thread. It starts with no execArgv (a
 * TypeScript module gets tsx registered inside it) and with the heap `limits` given.
 */
export function startPureThread(module: URL, data: unknown, limits: ThreadHeapLimits = {}): Worker {
  const start = () =>
    new Worker(BOOTSTRAP, {
      workerData: { module: module.href, data },
      execArgv: [],
      resourceLimits:
        limits.maxOldGenerationMb === undefined ? {} : { maxOldGenerationSizeMb: limits.maxOldGenerationMb },
    });
  if (limits.semiSpaceMb === undefined) return start();
  // The flag goes back once the thread runs (its heap exists), or once it ended without ever running.
  return withSemiSpace(limits.semiSpaceMb, start, (worker) =>
    Promise.race([once(worker, 'online'), once(worker, 'exit')]),
  );
}

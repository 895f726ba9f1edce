import { Worker } from 'node:worker_threads';

const BOOTSTRAP = new URL('./pure-thread-worker.mjs', import.meta.url);

/**
 * The module `name` next to the module whose `import.meta.url` is `base`, with that module's extension: `.js` when
 * Thoth runs compiled (dist/), `.ts` when its sources run (tests, benchmarks). For a thread's body.
 */
export function siblingModule(base: string, name: string): URL {
  const extension = /\.[cm]?[jt]s$/.exec(new URL(base).pathname)?.[0] ?? '.js';
  return new URL(`./${name}${extension}`, base);
}

/**
 * A worker thread that runs the module `module` (a file URL, compiled JavaScript or TypeScript) with `data` as its
 * `workerData.data`, for CPU-heavy work kept off the event loop. chDB fails to resolve there
 * (pure-thread-worker.mjs), since it must never be loaded off the main thread. It starts with no execArgv (a
 * TypeScript module gets tsx registered inside it) and with a heap of at most `maxHeapMb` when given, so a runaway
 * job ends the thread, not the process.
 */
export function startPureThread(module: URL, data: unknown, maxHeapMb?: number): Worker {
  return new Worker(BOOTSTRAP, {
    workerData: { module: module.href, data },
    execArgv: [],
    ...(maxHeapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } }),
  });
}

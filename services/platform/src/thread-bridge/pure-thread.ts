import { Worker } from 'node:worker_threads';

const BOOTSTRAP = new URL('./pure-thread-worker.mjs', import.meta.url);

/**
 * A worker thread that runs the TypeScript module `module` (a file URL) with `data` as its
 * `workerData.data`, for CPU-heavy work kept off the event loop. The thread may import only pure modules: a store
 * or chDB module fails to resolve there (pure-thread-worker.mjs), since chDB must never be loaded off the main
 * thread. It starts with no execArgv (tsx is registered inside it) and with a heap of at most `maxHeapMb` when given, so
 * a runaway job ends the thread, not the process.
 */
export function startPureThread(module: URL, data: unknown, maxHeapMb?: number): Worker {
  return new Worker(BOOTSTRAP, {
    workerData: { module: module.href, data },
    execArgv: [],
    ...(maxHeapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } }),
  });
}

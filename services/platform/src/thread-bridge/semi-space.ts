import { setFlagsFromString } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

/**
 * V8's semi-space size (half a young generation's scavenged space), which the process-wide flag
 * `--max-semi-space-size` sets for every isolate: V8 reads it when it creates an isolate's heap, and it wins over
 * a Worker's `resourceLimits.maxYoungGenerationSizeMb`. Thoth starts with a small one, for the API's thread (each
 * scavenge pauses the enforce path, for longer the larger the space); the consumers' thread wants a large one
 * (docs/performance.md). So a thread that needs its own size is created while the flag says that size, and the
 * flag is put back once the thread's heap exists.
 */

const FLAG = /^--max[-_]semi[-_]space[-_]size=(\d+)$/;

/**
 * The semi-space size in MB that the process was started with (`node` flags, then NODE_OPTIONS, the command line
 * winning as it does for node), or 0 when neither sets it: V8 then sizes it from the machine's memory. Node accepts
 * the flag only with `=`, and a NODE_OPTIONS entry may be double-quoted.
 */
export function startSemiSpaceMb(execArgv: readonly string[], nodeOptions = ''): number {
  let size = 0;
  const fromOptions = nodeOptions.split(/\s+/).map((flag) => flag.replace(/^"(.*)"$/, '$1'));
  for (const flag of [...fromOptions, ...execArgv]) {
    const match = FLAG.exec(flag);
    if (match) size = Number(match[1]);
  }
  return size;
}

/** The process's own value, read once. */
let startValue: number | undefined;
/** Threads being created with a size of their own; the flag goes back when the last one's heap exists. */
let pending = 0;

/**
 * Runs `create` (which starts a thread) with the semi-space flag at `mb`, then, once `settled` resolves or rejects
 * (the thread is running, so its heap exists, or it failed), sets the flag back to the process's own value.
 * Threads other code starts meanwhile get `mb` too, which only gives them room. Concurrent callers share one
 * restore, after the last of them; callers must agree on `mb` (Thoth has one: the consumers' thread).
 */
export function withSemiSpace<T>(mb: number, create: () => T, settled: (thread: T) => Promise<unknown>): T {
  // A worker's process.execArgv is its own, not the process's: the value to put back is known here only.
  if (!isMainThread) throw new Error('withSemiSpace runs on the main thread');
  startValue ??= startSemiSpaceMb(process.execArgv, process.env.NODE_OPTIONS);
  const own = startValue;
  pending++;
  setFlagsFromString(`--max-semi-space-size=${mb}`);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    if (--pending === 0) setFlagsFromString(`--max-semi-space-size=${own}`);
  };
  try {
    const thread = create();
    settled(thread).then(restore, restore);
    return thread;
  } catch (error) {
    restore();
    throw error;
  }
}

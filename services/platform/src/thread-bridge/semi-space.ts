import { setFlagsFromString } from 'node:v8';

/**
 * V8's semi-space size (half a young generation's scavenged space), which the process-wide flag
 * `--max-semi-space-size` sets for every isolate: V8 reads it when it creates an isolate's heap, and it wins over
 * a Worker's `resourceLimits.maxYoungGenerationSizeMb`. Thoth starts with a small one, for the API's thread (each
 * scavenge pauses the enforce path, for longer the larger the space); the consumers' thread wants a large one
 * (docs/performance.md). So a thread that needs its own size is created while the flag says that size, and the
 * flag is put back once the thread's heap exists.
 */

const FLAG = /^--max[-_]semi[-_]space[-_]size(?:=(\d+))?$/;

/**
 * The semi-space size in MB that the process was started with (`node` flags, then NODE_OPTIONS, where a later
 * flag wins as it does for node), or 0 when neither sets it: V8 then sizes it from the machine's memory.
 */
export function startSemiSpaceMb(execArgv: readonly string[], nodeOptions = ''): number {
  let size = 0;
  const flags = [...nodeOptions.split(/\s+/).filter(Boolean), ...execArgv];
  for (let i = 0; i < flags.length; i++) {
    const match = FLAG.exec(flags[i]!);
    if (!match) continue;
    const value = match[1] ?? flags[i + 1];
    if (value !== undefined && /^\d+$/.test(value)) size = Number(value);
  }
  return size;
}

/**
 * Runs `create` (which starts a thread) with the semi-space flag at `mb`, then, once `created` resolves (the
 * thread is running: its heap exists), sets the flag back to the process's own value. Threads other code starts
 * meanwhile get `mb` too, which only gives them room.
 */
export function withSemiSpace<T>(mb: number, create: () => T, created: (thread: T) => Promise<unknown>): T {
  const own = startSemiSpaceMb(process.execArgv, process.env.NODE_OPTIONS);
  setFlagsFromString(`--max-semi-space-size=${mb}`);
  let thread: T;
  try {
    thread = create();
  } catch (error) {
    setFlagsFromString(`--max-semi-space-size=${own}`);
    throw error;
  }
  const restore = () => setFlagsFromString(`--max-semi-space-size=${own}`);
  created(thread).then(restore, restore);
  return thread;
}

import type { AnalyticsStore, Bus, Config, Logger } from '@thoth/platform';
import {
  includeThreadMetrics,
  RpcPort,
  serveBus,
  serveStore,
  siblingModule,
  startPureThread,
} from '@thoth/platform';
import type { Consumers } from './consumers.ts';
import type { ConsumersThreadData } from './consumers-thread.ts';
import type { ConsumerName } from './service-names.ts';

const THREAD_MODULE = siblingModule(import.meta.url, 'consumers-thread');

/**
 * The consumers' semi-space: 64 MB, so an audit-writer flush's rows and a baselines batch die young instead of
 * being promoted and marked. Only this thread gets it. Thoth's start commands pass `--max-semi-space-size=16` for
 * the API's thread, where every scavenge pauses the enforce path: about 2 ms at 16 MB against 5 ms at 64, which
 * Node 24 picks by itself on the 24 GB reference machine (docs/performance.md).
 */
const CONSUMERS_SEMI_SPACE_MB = 64;

/**
 * Starts the consumers on a thread of their own, serving them this thread's bus and store. The enforce path
 * then shares its event loop with nothing but the HTTP API: the consumers' decoding, chaining, encoding and
 * detecting run on the other thread (and the other core), and their garbage is collected on their own heap.
 *
 * A thread that dies takes the process with it (`onFatal`), as a Kafka consumer that stopped for good does:
 * a process that looks alive but stores nothing is worse than one that is restarted.
 */
export async function startConsumerThread(options: {
  config: Config;
  log: Logger;
  bus: Bus;
  store: AnalyticsStore | undefined;
  wanted: ReadonlySet<ConsumerName>;
  onFatal: (error: Error) => void;
  /** The thread's module (tests start another): consumers-thread.ts by default. */
  threadModule?: URL;
}): Promise<Consumers> {
  const data: ConsumersThreadData = {
    config: options.config,
    wanted: [...options.wanted],
    hasStore: options.store !== undefined,
  };
  // A pure thread: loading chDB there fails at once (store.ts stays on this thread).
  const worker = startPureThread(options.threadModule ?? THREAD_MODULE, data, {
    semiSpaceMb: CONSUMERS_SEMI_SPACE_MB,
  });
  const rpc = new RpcPort(worker);
  const served = serveBus(rpc, options.bus);
  if (options.store) serveStore(rpc, options.store);
  // Before the consumers started, a death fails the start; after, it is fatal unless we were stopping it.
  let running = false;
  let stopping = false;
  let dead = false;
  const died = (error: Error) => {
    if (dead) return; // 'error' is followed by 'exit'
    dead = true;
    rpc.close(error);
    if (running && !stopping) options.onFatal(error);
  };
  worker.on('error', (error) => died(error));
  worker.on('exit', (code) => died(new Error(`the consumers' thread exited (code ${code})`)));

  try {
    await rpc.call('consumers.start');
  } catch (error) {
    await served.close();
    await worker.terminate();
    throw error;
  }
  running = true;
  // The thread's registry joins this process's GET /metrics (metrics-server.ts).
  const excludeThreadMetrics = includeThreadMetrics(rpc);
  options.log.info({ consumers: data.wanted }, 'consumers running on a thread of their own');
  return {
    stop: async () => {
      if (stopping) return;
      stopping = true;
      excludeThreadMetrics();
      try {
        // A dead thread has nothing left to drain: what it had not committed is delivered again at restart.
        if (!dead) await rpc.call('consumers.stop');
      } finally {
        await served.close();
        await worker.terminate();
      }
    },
  };
}

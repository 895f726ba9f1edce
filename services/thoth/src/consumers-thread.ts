import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '@thoth/platform';
import { BridgedBus, BridgedStore, createLogger, RpcPort, serveThreadMetrics } from '@thoth/platform';
import { type Consumers, startConsumers } from './consumers.ts';
import type { ConsumerName } from './service-names.ts';

/**
 * The consumers' thread (started by consumer-thread-host.ts as a pure thread): the audit writer, baselines, SIEM exports and the
 * notifier run here, on the main thread's bus and store through the thread bridge. This module must never
 * load chDB (it crashes when a thread that loaded it exits): it uses the store only through the bridge.
 */
export interface ConsumersThreadData {
  config: Config;
  wanted: ConsumerName[];
  hasStore: boolean;
}

const data = (workerData as { data: ConsumersThreadData }).data;
if (!parentPort) throw new Error('consumers-thread.ts runs as a worker thread');
const rpc = new RpcPort(parentPort);
// The consumers' families (audit writer, baselines, SIEM sinks) count here: the process's /metrics asks for them.
serveThreadMetrics(rpc);
// Background work yields to the enforce path: when the cores are contended, the kernel runs the API's thread
// first (Linux keeps a nice value per thread; `0` is this thread). At rest the consumers get all they need.
// Only ever lowered: a process started with a higher nice value keeps it (raising priority needs privileges).
if (getPriority(0) < data.config.THOTH_CONSUMERS_NICE) setPriority(0, data.config.THOTH_CONSUMERS_NICE);
const log = createLogger(data.config.LOG_LEVEL).child({ thread: 'consumers' });
let consumers: Consumers | undefined;

rpc.handle('consumers.start', async () => {
  consumers = await startConsumers({
    config: data.config,
    log,
    bus: new BridgedBus(rpc),
    store: data.hasStore ? new BridgedStore(rpc) : undefined,
    wanted: new Set(data.wanted),
  });
});
rpc.handle('consumers.stop', async () => {
  await consumers?.stop();
  consumers = undefined;
});

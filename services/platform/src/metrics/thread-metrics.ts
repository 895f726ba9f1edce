import type { RpcPort } from '../thread-bridge/rpc-port.ts';
import { metricsRegistry } from './metrics-registry.ts';
import { addThreadRegistry } from './metrics-server.ts';

/**
 * A thread's metrics on its process's one endpoint: the thread answers `metrics.json` with its registry
 * (prom-client JSON crosses the thread as a structured clone), the main thread adds it to what it serves.
 */
export function serveThreadMetrics(rpc: RpcPort): void {
  rpc.handle('metrics.json', () => metricsRegistry.getMetricsAsJSON());
}

/** On the main thread: scrapes include the registry of the thread at the other end of `rpc`. Returns a remover. */
export function includeThreadMetrics(rpc: RpcPort): () => void {
  return addThreadRegistry(() => rpc.call<object[]>('metrics.json'));
}

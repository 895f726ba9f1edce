import { createServer, type Server } from 'node:http';
import { AggregatorRegistry, Registry } from 'prom-client';
import { metricsRegistry } from './metrics-registry.ts';

/** Another thread's registry as prom-client JSON (`getMetricsAsJSON()`), fetched when scraped. */
export type RegistryJsonSource = () => Promise<object[]>;

const threadRegistries = new Set<RegistryJsonSource>();

/** How long a scrape waits for a thread's registry: a thread stuck in a long task must not hang the scrape. */
const THREAD_ANSWER_MS = 2_000;

/**
 * Adds another thread's registry to this process's exposition (the consumers' thread): its families are merged
 * with this thread's (AggregatorRegistry.aggregate, which sums samples of the same name and labels). The
 * returned function removes it.
 */
export function addThreadRegistry(source: RegistryJsonSource): () => void {
  threadRegistries.add(source);
  return () => void threadRegistries.delete(source);
}

/** This process's metrics as Prometheus text: this thread's registry and every thread's added to it. */
export async function renderMetrics(): Promise<string> {
  const threads = [...threadRegistries];
  if (threads.length === 0) return metricsRegistry.metrics();
  const all = await Promise.all([
    metricsRegistry.getMetricsAsJSON(),
    ...threads.map((source) => withTimeout(source(), THREAD_ANSWER_MS).catch(() => [])),
  ]);
  return AggregatorRegistry.aggregate(all).metrics();
}

export interface MetricsServer {
  server: Server;
  /** The port it listens on (the one the system chose for port 0). */
  port: number;
  close(): Promise<void>;
}

/**
 * The process's own listener for `GET /metrics` (Prometheus text) and `GET /healthz`, on THOTH_METRICS_PORT:
 * apart from the API's port, so a scraper needs no API key and the public port exposes no internals. `/healthz`
 * answers 200 once `isReady` says so (503 `starting` before), as the API's does: it is the health check of a
 * process without the API.
 */
export async function startMetricsServer(
  host: string,
  port: number,
  isReady: () => boolean = () => true,
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      renderMetrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE });
          res.end(text);
        },
        (error: Error) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'internal', message: error.message }));
        },
      );
      return;
    }
    if (req.method === 'GET' && req.url === '/healthz') {
      const ready = isReady();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
      res.end(ready ? '{"status":"ok"}' : '{"status":"starting"}');
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not_found', message: `${req.method} ${req.url} not found` }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      // A bare "EADDRINUSE … :9464" names no setting: say which variable to change.
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `THOTH_METRICS_PORT: ${host}:${port} is already in use (another Thoth?): set THOTH_METRICS_PORT to a free port (0: any)`,
            )
          : error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL'
            ? new Error(`HOST/THOTH_METRICS_PORT: cannot listen on ${host}:${port} (${error.code})`)
            : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

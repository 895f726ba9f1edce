import { createServer, type Server } from 'node:http';

/**
 * Per-sink delivery counters and their Prometheus text exposition (format 0.0.4). Counters only grow; lag is
 * a gauge read from the bus when scraped.
 */
export interface SinkCounters {
  delivered: number;
  failed: number;
  retried: number;
  deadLettered: number;
  filtered: number;
  /** 1 while the last delivery attempt succeeded, 0 while the sink is failing. */
  up: number;
}

export function newCounters(): SinkCounters {
  return { delivered: 0, failed: 0, retried: 0, deadLettered: 0, filtered: 0, up: 1 };
}

export interface SinkSample {
  sink: string;
  type: string;
  tenant: string;
  counters: SinkCounters;
  /** Messages on the events topic not yet committed by the sink's group; undefined if unknown. */
  lag: number | undefined;
}

const METRICS: Array<{
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  value: (s: SinkSample) => number | undefined;
}> = [
  {
    name: 'thoth_siem_events_delivered_total',
    type: 'counter',
    help: 'Events the sink acknowledged.',
    value: (s) => s.counters.delivered,
  },
  {
    name: 'thoth_siem_events_failed_total',
    type: 'counter',
    help: 'Events in delivery attempts that failed (each attempt counts).',
    value: (s) => s.counters.failed,
  },
  {
    name: 'thoth_siem_events_retried_total',
    type: 'counter',
    help: 'Events sent again after a failed attempt.',
    value: (s) => s.counters.retried,
  },
  {
    name: 'thoth_siem_events_dead_lettered_total',
    type: 'counter',
    help: 'Events sent to the DLQ (unformattable or refused by the sink).',
    value: (s) => s.counters.deadLettered,
  },
  {
    name: 'thoth_siem_events_filtered_total',
    type: 'counter',
    help: "Events skipped by the sink's tenant and filters.",
    value: (s) => s.counters.filtered,
  },
  {
    name: 'thoth_siem_sink_up',
    type: 'gauge',
    help: '1 if the last delivery attempt succeeded, 0 while the sink fails.',
    value: (s) => s.counters.up,
  },
  {
    name: 'thoth_siem_consumer_lag_messages',
    type: 'gauge',
    help: "Messages on the events topic not yet committed by the sink's consumer group.",
    value: (s) => s.lag,
  },
];

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function renderPrometheus(samples: SinkSample[]): string {
  const lines: string[] = [];
  for (const metric of METRICS) {
    lines.push(`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} ${metric.type}`);
    for (const sample of samples) {
      const value = metric.value(sample);
      if (value === undefined) continue;
      const labels = `sink="${escapeLabel(sample.sink)}",type="${escapeLabel(sample.type)}",tenant="${escapeLabel(sample.tenant)}"`;
      lines.push(`${metric.name}{${labels}} ${value}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A bare listener for `GET /metrics` (and `/healthz`): the exporter has no other HTTP surface. */
export async function startMetricsServer(
  host: string,
  port: number,
  samples: () => Promise<SinkSample[]>,
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      samples()
        .then((s) => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          res.end(renderPrometheus(s));
        })
        .catch((error: Error) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'internal', message: error.message }));
        });
      return;
    }
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
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
              `THOTH_SIEM_METRICS_PORT: ${host}:${port} is already in use: set THOTH_SIEM_METRICS_PORT to a free port (0: any)`,
            )
          : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  return {
    server,
    port: bound,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

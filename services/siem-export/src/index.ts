// The package's one entry: what the Thoth runtime (services/thoth) starts and the CLI calls.

export { backfillSink } from './siem-backfill.ts';
export { SiemExporter } from './siem-exporter.ts';
export { loadSinkConfig, sinkFormat } from './sink-config.ts';
export { createTransport } from './transports/create-transport.ts';

import type { SinkConfig } from '../sink-config.ts';
import { HecTransport } from './hec.ts';
import { NdjsonFileTransport } from './ndjson-file.ts';
import { SyslogTransport } from './syslog.ts';
import type { Transport } from './transport.ts';
import { WebhookTransport } from './webhook.ts';

/** The transport a sink's configuration names. */
export function createTransport(sink: SinkConfig, sourcetype: string): Transport {
  switch (sink.type) {
    case 'syslog':
      return new SyslogTransport({
        host: sink.host,
        port: sink.port,
        tls: sink.tls,
        ca: sink.ca_file,
        cert: sink.cert_file,
        key: sink.key_file,
        serverName: sink.server_name,
        facility: sink.facility,
        appName: sink.app_name,
        hostname: sink.hostname,
        timeoutMs: sink.timeout_ms,
      });
    case 'hec':
      return new HecTransport({
        url: sink.url,
        token: sink.token,
        index: sink.index,
        host: sink.host,
        source: sink.source,
        sourcetype: sink.sourcetype ?? sourcetype,
        gzip: sink.gzip,
        ack: sink.ack,
        ackTimeoutMs: sink.ack_timeout_ms,
        ackPollMs: sink.ack_poll_ms,
        ca: sink.ca_file,
        timeoutMs: sink.timeout_ms,
      });
    case 'webhook':
      return new WebhookTransport({
        url: sink.url,
        secret: sink.secret,
        ca: sink.ca_file,
        timeoutMs: sink.timeout_ms,
      });
    case 'file':
      return new NdjsonFileTransport({
        dir: sink.dir,
        prefix: sink.prefix,
        maxBytes: sink.max_bytes,
        maxAgeMs: sink.max_age_seconds * 1_000,
      });
  }
}

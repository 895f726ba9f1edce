import { type FormatName, fitLine } from '../formats/formats.ts';
import {
  readSinkFile,
  type SinkConfig,
  SinkConfigError,
  sinkFormat,
  sinkFormatOptions,
} from '../sink-config.ts';
import { HecTransport } from './hec.ts';
import { NdjsonFileTransport } from './ndjson-file.ts';
import { SyslogTransport } from './syslog.ts';
import type { Transport } from './transport.ts';
import { WebhookTransport } from './webhook.ts';

/**
 * The transport a sink's configuration names. Files it names are read here, at start: a missing one fails start
 * naming the sink and the field (readSinkFile).
 */
export function createTransport(sink: SinkConfig, sourcetype: string): Transport {
  switch (sink.type) {
    case 'syslog': {
      const format: FormatName = sinkFormat(sink);
      const options = sinkFormatOptions(sink);
      return new SyslogTransport({
        host: sink.host,
        port: sink.port,
        tls: sink.tls,
        ca: readSinkFile(sink, 'ca_file'),
        cert: readSinkFile(sink, 'cert_file'),
        key: readSinkFile(sink, 'key_file'),
        serverName: sink.server_name,
        facility: sink.facility,
        appName: sink.app_name,
        hostname: sink.hostname,
        timeoutMs: sink.timeout_ms,
        maxMessageSize: sink.max_message_size,
        fitLine: (item, maxBytes) => fitLine(format, item.event, item.formatted, maxBytes, options),
      });
    }
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
        ca: readSinkFile(sink, 'ca_file'),
        timeoutMs: sink.timeout_ms,
      });
    case 'webhook':
      return new WebhookTransport({
        url: sink.url,
        secret: sink.secret,
        ca: readSinkFile(sink, 'ca_file'),
        timeoutMs: sink.timeout_ms,
      });
    case 'file':
      try {
        return new NdjsonFileTransport({
          dir: sink.dir,
          prefix: sink.prefix,
          maxBytes: sink.max_bytes,
          maxAgeMs: sink.max_age_seconds * 1_000,
        });
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        throw new SinkConfigError(`SIEM sink "${sink.id}": dir ${sink.dir} cannot be used (${reason})`);
      }
  }
}

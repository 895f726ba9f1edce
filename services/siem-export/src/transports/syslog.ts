import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { asLine } from '../formats/formats.ts';
import { sanitizeText, truncateText } from '../formats/text.ts';
import type { Severity, SiemEvent } from '../siem-event.ts';
import { type DeliveryItem, type DeliveryResult, delivered, type Transport } from './transport.ts';

/**
 * RFC 5424 syslog over TCP with RFC 6587 octet-counting framing, or over TLS (RFC 5425, the receiver's
 * certificate verified against the configured CA).
 *
 * Plain syslog has no acknowledgement: bytes a receiver had not read when it went down are lost silently. So a
 * batch is confirmed by an orderly close: we send it on a fresh connection, half-close, and count it delivered
 * only when the receiver closes its side — which it does after reading our end of stream, i.e. after reading
 * every byte of the batch. A reset, a timeout or a failed connect fails the batch, which is sent again whole.
 *
 * Every message fits in `maxMessageSize` octets (default 8096: the most a stock rsyslog takes whole — its "8k"
 * default; measured with rsyslog 8.2302, a longer frame arrives cut or split into two records):
 * a longer event has its longest values cut, marked, and says so in its structured data (`truncated`, the
 * octets of the whole MSG); the frame, the header and the structured data stay whole and valid.
 */
export interface SyslogOptions {
  host: string;
  port: number;
  tls: boolean;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  serverName?: string;
  facility: number;
  appName: string;
  hostname: string;
  timeoutMs: number;
  maxMessageSize: number;
  /** The event as one line of at most the given octets (formats/formats.ts fitLine), undefined if it cannot. */
  fitLine: (item: DeliveryItem, maxBytes: number) => string | undefined;
}

/** RFC 5424 severities: critical 2, error 3, warning 4, notice 5, informational 6. */
const SYSLOG_SEVERITY: Record<Severity, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
/** RFC 5612's documentation enterprise number: our SD-ID is private, as RFC 5424 §7.2.2 asks. */
export const SD_ID = 'thoth@32473';
/** RFC 5424 §6.4: a MSG in Unicode starts with the UTF-8 byte order mark. */
const BOM = '\uFEFF';

/**
 * Longest SD-PARAM value, in characters: the structured data is a header for routing and dedup (tenant, event
 * id), never cut to fit the message, so it is kept small; the MSG carries the full values.
 */
const SD_PARAM_MAX = 512;

/**
 * An SD-PARAM value: no control character (text.ts), at most SD_PARAM_MAX characters (cut with the marker),
 * then backslash, `"` and `]` escaped (RFC 5424 §6.3.3).
 */
export function escapeSdParam(value: string): string {
  return truncateText(sanitizeText(value), SD_PARAM_MAX).replace(/[\\"\]]/g, (c) => `\\${c}`);
}

type HeaderOptions = Pick<SyslogOptions, 'facility' | 'appName' | 'hostname'>;

/** HEADER SP STRUCTURED-DATA (RFC 5424 §6), without the MSG. */
export function syslogPrefix(
  event: SiemEvent,
  options: HeaderOptions,
  procId = String(process.pid),
  truncatedFrom?: number,
): string {
  const pri = options.facility * 8 + SYSLOG_SEVERITY[event.severity];
  const timestamp = headerTimestamp(event.time);
  const truncated = truncatedFrom === undefined ? '' : ` truncated="${truncatedFrom}"`;
  const sd = `[${SD_ID} tenant="${escapeSdParam(event.tenantId)}" event_id="${escapeSdParam(event.id)}"${truncated}]`;
  // HOSTNAME and APP-NAME are printable ASCII (sink-config.ts), PROCID digits, MSGID the event kind.
  return `<${pri}>1 ${timestamp} ${options.hostname} ${options.appName} ${procId} ${event.kind} ${sd}`;
}

/**
 * Stock rsyslog (8.2302) parses an RFC 5424 header only up to the year 2099: from 2100 on the whole message,
 * structured data included, becomes an unparsed MSG. Such an event's header says NILVALUE (`-`, RFC 5424 §6.2.3:
 * the receiver takes its own time); its time stays in MSG (CEF rt, LEEF devTime, OCSF time, ECS @timestamp).
 */
const LAST_HEADER_MS = Date.UTC(2099, 11, 31, 23, 59, 59, 999);

/** TIMESTAMP: events carry 1970 … 9999 (siem-event.ts), so the year has the four digits FULL-DATE requires. */
export function headerTimestamp(timeMs: number): string {
  return timeMs >= 0 && timeMs <= LAST_HEADER_MS ? new Date(timeMs).toISOString() : '-';
}

/** The MSG part: the line, after the BOM when it is not plain ASCII. */
export function syslogMsg(line: string): string {
  // Formats write no raw line break (text.ts, jsonLine): this only guards the frame.
  const oneLine = line.replace(/[\r\n]/g, ' ');
  // ASCII only when no character takes more than one UTF-8 octet.
  return Buffer.byteLength(oneLine, 'utf8') === oneLine.length ? oneLine : `${BOM}${oneLine}`;
}

/** One RFC 5424 message; MSG is the formatted event (CEF, LEEF or JSON) on one line. */
export function rfc5424Message(
  event: SiemEvent,
  msg: string,
  options: HeaderOptions,
  procId = String(process.pid),
  truncatedFrom?: number,
): string {
  return `${syslogPrefix(event, options, procId, truncatedFrom)} ${syslogMsg(msg)}`;
}

/**
 * The message of one item within `maxMessageSize` octets: whole when it fits, else with its MSG cut to the room
 * left by the header and structured data (which then say how long the MSG was). Undefined if it cannot fit.
 */
export function boundedMessage(
  item: DeliveryItem,
  options: HeaderOptions & Pick<SyslogOptions, 'maxMessageSize' | 'fitLine'>,
  procId = String(process.pid),
): string | undefined {
  const line = asLine(item.formatted);
  const whole = rfc5424Message(item.event, line, options, procId);
  const wholeBytes = Buffer.byteLength(whole, 'utf8');
  if (wholeBytes <= options.maxMessageSize) return whole;
  const msgBytes = Buffer.byteLength(syslogMsg(line), 'utf8');
  const prefix = syslogPrefix(item.event, options, procId, msgBytes);
  // The room for MSG: after the prefix and its space, less the BOM's three octets in case the cut line needs it.
  const room = options.maxMessageSize - Buffer.byteLength(prefix, 'utf8') - 1 - 3;
  if (room <= 0) return undefined;
  const cut = options.fitLine(item, room);
  return cut === undefined ? undefined : `${prefix} ${syslogMsg(cut)}`;
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function octetCounted(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

export class SyslogTransport implements Transport {
  private readonly open = new Set<Socket>();

  constructor(private readonly options: SyslogOptions) {}

  async deliver(items: DeliveryItem[]): Promise<DeliveryResult> {
    const frames: Buffer[] = [];
    const rejected: DeliveryResult['rejected'] = [];
    items.forEach((item, index) => {
      const message = boundedMessage(item, this.options);
      if (message === undefined)
        rejected.push({
          index,
          reason: `does not fit in a syslog message of ${this.options.maxMessageSize} octets`,
        });
      else frames.push(octetCounted(message));
    });
    if (frames.length > 0) {
      const socket = await this.connect();
      this.open.add(socket);
      try {
        await this.sendAndConfirm(socket, Buffer.concat(frames));
      } finally {
        this.open.delete(socket);
        socket.destroy();
      }
    }
    return rejected.length === 0 ? delivered : { rejected };
  }

  async close(): Promise<void> {
    for (const socket of this.open) socket.destroy(new Error('transport closed'));
  }

  private connect(): Promise<Socket> {
    const { host, port, timeoutMs } = this.options;
    return new Promise((resolve, reject) => {
      const socket = this.options.tls
        ? tlsConnect({
            host,
            port,
            ca: this.options.ca,
            cert: this.options.cert,
            key: this.options.key,
            // SNI carries names only; an IP host is still verified against the certificate's IP SANs.
            servername: this.options.serverName ?? (isIP(host) ? undefined : host),
            rejectUnauthorized: true,
          })
        : netConnect({ host, port });
      const timer = setTimeout(
        () => socket.destroy(new Error(`connect timeout after ${timeoutMs} ms`)),
        timeoutMs,
      );
      socket.once(this.options.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        resolve(socket);
      });
      const onError = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(`syslog ${host}:${port}: ${error.message}`));
      };
      socket.once('error', onError);
    });
  }

  private sendAndConfirm(socket: Socket, frames: Buffer): Promise<void> {
    const { host, port, timeoutMs } = this.options;
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(new Error(`syslog ${host}:${port}: ${error.message}`));
        else resolve();
      };
      // The receiver answers nothing; its close (after our end of stream) is the confirmation.
      const timer = setTimeout(
        () => finish(new Error(`receiver did not confirm the batch within ${timeoutMs} ms`)),
        timeoutMs,
      );
      socket.on('error', (error) => finish(error));
      socket.on('close', (hadError) =>
        finish(hadError ? new Error('connection failed before the batch was confirmed') : undefined),
      );
      socket.resume();
      socket.write(frames);
      socket.end();
    });
  }
}

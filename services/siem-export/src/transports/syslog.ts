import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { asLine } from '../formats/formats.ts';
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
 */
export interface SyslogOptions {
  host: string;
  port: number;
  tls: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  serverName?: string;
  facility: number;
  appName: string;
  hostname: string;
  timeoutMs: number;
}

/** RFC 5424 severities: critical 2, error 3, warning 4, notice 5, informational 6. */
const SYSLOG_SEVERITY: Record<Severity, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
/** RFC 5612's documentation enterprise number: our SD-ID is private, as RFC 5424 §7.2.2 asks. */
export const SD_ID = 'thoth@32473';

export function escapeSdParam(value: string): string {
  return value.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** One RFC 5424 message; MSG is the formatted event (CEF, LEEF or JSON) on one line. */
export function rfc5424Message(
  event: SiemEvent,
  msg: string,
  options: Pick<SyslogOptions, 'facility' | 'appName' | 'hostname'>,
  procId = String(process.pid),
): string {
  const pri = options.facility * 8 + SYSLOG_SEVERITY[event.severity];
  const sd = `[${SD_ID} tenant="${escapeSdParam(event.tenantId)}" event_id="${escapeSdParam(event.id)}"]`;
  const line = msg.replace(/\r?\n/g, ' ');
  return `<${pri}>1 ${new Date(event.time).toISOString()} ${options.hostname} ${options.appName} ${procId} ${event.kind} ${sd} ${line}`;
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function octetCounted(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

export class SyslogTransport implements Transport {
  private readonly ca: Buffer | undefined;
  private readonly cert: Buffer | undefined;
  private readonly key: Buffer | undefined;
  private readonly open = new Set<Socket>();

  constructor(private readonly options: SyslogOptions) {
    this.ca = options.ca ? readFileSync(options.ca) : undefined;
    this.cert = options.cert ? readFileSync(options.cert) : undefined;
    this.key = options.key ? readFileSync(options.key) : undefined;
  }

  async deliver(items: DeliveryItem[]): Promise<DeliveryResult> {
    const frames = Buffer.concat(
      items.map((item) => octetCounted(rfc5424Message(item.event, asLine(item.formatted), this.options))),
    );
    const socket = await this.connect();
    this.open.add(socket);
    try {
      await this.sendAndConfirm(socket, frames);
    } finally {
      this.open.delete(socket);
      socket.destroy();
    }
    return delivered;
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
            ca: this.ca,
            cert: this.cert,
            key: this.key,
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

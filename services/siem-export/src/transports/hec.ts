import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { type HecEnvelopeOptions, hecBatchBody, hecEnvelope } from '../formats/hec.ts';
import { httpPost } from './http-post.ts';
import { type DeliveryItem, type DeliveryResult, delivered, type Transport } from './transport.ts';

/**
 * Splunk HTTP Event Collector (`POST /services/collector/event`, `Authorization: Splunk <token>`), batched and
 * optionally gzipped. With indexer acknowledgement a request carries `X-Splunk-Request-Channel` and the batch
 * counts as delivered only once `/services/collector/ack` reports its ackId indexed.
 *
 * Answers, by HEC status code: 0 success; 5 / 6 / 12 / 13 (no data, invalid data format, event field
 * required / blank) blame the content — the batch is split until the offending event is alone, and that one
 * is refused (DLQ); anything else — 429, 503 / 9 (server busy), 1–4 (token), 7 (index not allowed for the
 * token), 10 / 11 / 14 (channel, ack), 5xx, network — fails the whole batch, retried with backoff. A
 * misconfigured sink therefore holds its events back instead of discarding them.
 */
export interface HecOptions extends HecEnvelopeOptions {
  url: string;
  token: string;
  gzip: boolean;
  ack: boolean;
  ackTimeoutMs: number;
  ackPollMs: number;
  /** PEM CA bundle the receiver's certificate must chain to (absent: the system's CAs). */
  ca?: Buffer;
  timeoutMs: number;
}

const CONTENT_CODES = new Set([5, 6, 12, 13]);

export interface HecAnswer {
  text?: string;
  code?: number;
  ackId?: number;
  'invalid-event-number'?: number;
}

export class HecError extends Error {
  override name = 'HecError';
}

export class HecTransport implements Transport {
  private readonly channel = randomUUID();
  private closed = false;

  constructor(private readonly options: HecOptions) {}

  async deliver(items: DeliveryItem[]): Promise<DeliveryResult> {
    const rejected: DeliveryResult['rejected'] = [];
    await this.deliverOrSplit(
      items.map((item, index) => ({ item, index })),
      rejected,
    );
    return rejected.length === 0 ? delivered : { rejected };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private async deliverOrSplit(
    batch: Array<{ item: DeliveryItem; index: number }>,
    rejected: DeliveryResult['rejected'],
  ): Promise<void> {
    const answer = await this.post(batch.map((b) => b.item));
    if (answer.kind === 'ok') return;
    if (batch.length === 1) {
      rejected.push({ index: batch[0]!.index, reason: `HEC refused the event: ${answer.reason}` });
      return;
    }
    // Some event's content is refused: halve until it is alone. Events already indexed before it may be sent
    // twice — at-least-once, receivers dedupe on the event id.
    const half = Math.ceil(batch.length / 2);
    await this.deliverOrSplit(batch.slice(0, half), rejected);
    await this.deliverOrSplit(batch.slice(half), rejected);
  }

  /** ok, or a content refusal; throws HecError when the whole batch must be retried. */
  private async post(items: DeliveryItem[]): Promise<{ kind: 'ok' } | { kind: 'content'; reason: string }> {
    const body = hecBatchBody(items.map((i) => hecEnvelope(i.event.time, i.formatted, this.options)));
    const headers: Record<string, string> = {
      authorization: `Splunk ${this.options.token}`,
      'content-type': 'application/json',
    };
    if (this.options.gzip) headers['content-encoding'] = 'gzip';
    if (this.options.ack) headers['x-splunk-request-channel'] = this.channel;
    const response = await this.request(
      '/services/collector/event',
      headers,
      this.options.gzip ? gzipSync(body) : body,
    );
    const answer = parseAnswer(response.body);
    if (response.status === 200 && answer.code === 0) {
      if (this.options.ack) {
        if (typeof answer.ackId !== 'number')
          throw new HecError('HEC acknowledgement enabled but no ackId returned');
        await this.waitForAck(answer.ackId);
      }
      return { kind: 'ok' };
    }
    const what = `HTTP ${response.status}, code ${answer.code ?? '?'} (${answer.text ?? response.body.slice(0, 200)})`;
    if (response.status === 400 && answer.code !== undefined && CONTENT_CODES.has(answer.code))
      return { kind: 'content', reason: what };
    throw new HecError(`HEC ${what}`);
  }

  private async waitForAck(ackId: number): Promise<void> {
    const deadline = Date.now() + this.options.ackTimeoutMs;
    const body = JSON.stringify({ acks: [ackId] });
    for (;;) {
      const response = await this.request(
        `/services/collector/ack?channel=${encodeURIComponent(this.channel)}`,
        {
          authorization: `Splunk ${this.options.token}`,
          'content-type': 'application/json',
          'x-splunk-request-channel': this.channel,
        },
        body,
      );
      if (response.status !== 200)
        throw new HecError(`HEC ack query: HTTP ${response.status} ${response.body.slice(0, 200)}`);
      const acks = (JSON.parse(response.body) as { acks?: Record<string, boolean> }).acks ?? {};
      if (acks[String(ackId)] === true) return;
      // Not indexed (yet): the batch is resent after the timeout, which may duplicate it (at-least-once).
      if (Date.now() > deadline || this.closed)
        throw new HecError(`HEC ackId ${ackId} not acknowledged within ${this.options.ackTimeoutMs} ms`);
      await new Promise((r) => setTimeout(r, this.options.ackPollMs));
    }
  }

  private async request(path: string, headers: Record<string, string>, body: Buffer | string) {
    try {
      return await httpPost(new URL(path, this.options.url).toString(), {
        headers,
        body,
        ca: this.options.ca,
        timeoutMs: this.options.timeoutMs,
      });
    } catch (error) {
      throw new HecError(`HEC ${this.options.url}: ${(error as Error).message}`);
    }
  }
}

function parseAnswer(body: string): HecAnswer {
  try {
    const parsed = JSON.parse(body) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as HecAnswer) : {};
  } catch {
    return {};
  }
}

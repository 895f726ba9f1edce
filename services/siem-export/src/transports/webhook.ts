import { createHash } from 'node:crypto';
import { signatureHeader } from '@thoth/contracts';
import { httpPost } from './http-post.ts';
import { type DeliveryItem, type DeliveryResult, delivered, type Transport } from './transport.ts';

/**
 * HTTPS webhook: one POST per batch, body `{"events":[…]}`, signed with HMAC-SHA256 in X-Thoth-Signature (the
 * scheme of every Thoth webhook). 2xx delivers; 408, 425, 429, 5xx and network errors are retried; any other
 * 4xx means the receiver refuses this content, so the batch goes to the DLQ with the status as the reason.
 */
export interface WebhookOptions {
  url: string;
  secret: string;
  /** PEM CA bundle the receiver's certificate must chain to (absent: the system's CAs). */
  ca?: Buffer;
  timeoutMs: number;
}

const RETRIED_4XX = new Set([408, 425, 429]);

export class WebhookTransport implements Transport {
  constructor(private readonly options: WebhookOptions) {}

  async deliver(items: DeliveryItem[]): Promise<DeliveryResult> {
    const body = JSON.stringify({ events: items.map((i) => i.formatted) });
    const response = await httpPost(this.options.url, {
      headers: {
        'content-type': 'application/json',
        'user-agent': 'thoth-siem-export/1',
        // Stable across retries of the same batch: receivers can dedupe whole deliveries too.
        'x-thoth-delivery': createHash('sha256')
          .update(items.map((i) => i.event.id).join('\n'))
          .digest('hex')
          .slice(0, 32),
        'x-thoth-signature': signatureHeader(this.options.secret, body, Math.floor(Date.now() / 1_000)),
      },
      body,
      ca: this.options.ca,
      timeoutMs: this.options.timeoutMs,
    }).catch((error: Error) => {
      throw new Error(`webhook ${this.options.url}: ${error.message}`);
    });
    if (response.status >= 200 && response.status < 300) return delivered;
    if (response.status >= 400 && response.status < 500 && !RETRIED_4XX.has(response.status)) {
      const reason = `webhook refused the batch: HTTP ${response.status} ${response.body.slice(0, 200)}`;
      return { rejected: items.map((_, index) => ({ index, reason })) };
    }
    throw new Error(`webhook ${this.options.url}: HTTP ${response.status}`);
  }

  async close(): Promise<void> {}
}

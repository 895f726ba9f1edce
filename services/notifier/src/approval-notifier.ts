import type { HoldRecord } from '@thoth/contracts';
import type { AvroCodec, Bus, Logger, Subscription } from '@thoth/platform';
import { backoffMs, type DeadLetter, subscribeRecords } from '@thoth/platform';
import { deliveryId, eventType, signatureHeader, type WebhookFormat, webhookBody } from './webhook.ts';

export interface ApprovalNotifierDeps {
  bus: Bus;
  codec: AvroCodec;
  /** The events topic: the trail's Hold events, one per state a hold really took (hold-registry.ts). */
  eventsTopic: string;
  log: Logger;
  url: string;
  secret: string;
  format: WebhookFormat;
  maxAttempts: number;
  /** THOTH_PUBLIC_URL: each message links to the approval in the console. */
  publicUrl?: string;
  /** First retry delay; doubles per attempt up to 30 s. */
  backoffMs?: number;
  timeoutMs?: number;
  group?: string;
}

/**
 * Sends an outbound webhook for each new pending approval and each resolution. It reads the Hold events of the
 * audit trail (the events topic), not the approvals topic: when two replicas resolve one hold at once both
 * resolutions reach the approvals topic and the first one wins, but only the winner's resolution is written to
 * the trail — so a webhook never announces the loser, whatever this consumer remembers across restarts. Its
 * own consumer group, so a slow or broken receiver never delays enforcement; one member handles each change, so
 * receivers get one delivery per (approval, state) — at least once: they dedupe on `X-Thoth-Delivery`. A
 * delivery is retried with exponential backoff; after `maxAttempts` it goes to the DLQ with the reason.
 */
export class ApprovalNotifier {
  private subscription: Subscription | undefined;
  private stopping = false;
  delivered = 0;
  failedAttempts = 0;

  constructor(private readonly deps: ApprovalNotifierDeps) {}

  async start(): Promise<void> {
    this.subscription = await subscribeRecords({
      bus: this.deps.bus,
      codec: this.deps.codec,
      group: this.deps.group ?? `${this.deps.eventsTopic}.approval-notifier`,
      topics: [this.deps.eventsTopic],
      // Tool calls and decisions pass by undecoded: only holds are announced.
      schemas: ['thoth.v1.Hold'],
      // A new deployment announces what happens from now on, not the whole history of the topic.
      fromBeginning: false,
      maxBatchSize: 500,
      handler: async (records) => {
        const dead: DeadLetter[] = [];
        for (const record of records) {
          if (record.schema !== 'thoth.v1.Hold') continue;
          const failure = await this.deliver(record.value);
          if (failure) dead.push({ message: record.message, reason: failure });
        }
        return dead;
      },
      onDeadLetter: (letter) => this.deps.log.error({ reason: letter.reason }, 'approval webhook gave up'),
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.subscription?.stop();
  }

  /** Delivers with retries; returns why it gave up, or undefined once delivered. */
  private async deliver(hold: HoldRecord): Promise<string | undefined> {
    const body = JSON.stringify(webhookBody(hold, this.deps.format, this.deps.publicUrl));
    let last = '';
    for (let attempt = 1; attempt <= this.deps.maxAttempts; attempt++) {
      try {
        const response = await fetch(this.deps.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'thoth-webhooks/1',
            'x-thoth-event': eventType(hold),
            'x-thoth-delivery': deliveryId(hold),
            'x-thoth-signature': signatureHeader(this.deps.secret, body, Math.floor(Date.now() / 1_000)),
          },
          body,
          signal: AbortSignal.timeout(this.deps.timeoutMs ?? 5_000),
        });
        await response.arrayBuffer();
        if (response.ok) {
          this.delivered++;
          return undefined;
        }
        last = `HTTP ${response.status}`;
      } catch (error) {
        last = (error as Error).message;
      }
      this.failedAttempts++;
      this.deps.log.warn(
        { delivery: deliveryId(hold), attempt, error: last },
        'approval webhook failed; retrying',
      );
      if (this.stopping) throw new Error(`stopping with ${deliveryId(hold)} undelivered`); // redelivered later
      if (attempt < this.deps.maxAttempts)
        await new Promise((r) => setTimeout(r, backoffMs(attempt - 1, this.deps.backoffMs ?? 500, 30_000)));
    }
    return `webhook ${deliveryId(hold)} failed ${this.deps.maxAttempts} times; last: ${last}`;
  }
}

import type { Logger } from '@thoth/platform';
import { type ControlWriter, controlRecord } from './control-commands.ts';
import type { ApiKeyIdentity, ControlProjection } from './control-projection.ts';

/**
 * When each API key was last used. A successful authentication notes it in memory (the hot path does no I/O);
 * every `flushMs` this replica publishes the keys it saw used since the last flush to the control topic, where
 * every replica's projection keeps the latest time. A failed flush keeps its keys for the next one.
 */
export class KeyUsage {
  /** Keys used on this replica since the last flush, with their tenant. */
  private readonly usedSinceFlush = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly writer: ControlWriter,
    private readonly projection: ControlProjection,
    private readonly log: Logger,
  ) {}

  /** Publishes every `flushMs` (0: never; kept in memory only). */
  start(flushMs: number): void {
    if (!flushMs) return;
    this.timer = setInterval(() => {
      this.flush().catch((error: unknown) =>
        this.log.warn({ err: error }, 'key usage not published; will retry'),
      );
    }, flushMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch(() => undefined);
  }

  /** Notes a successful authentication (memory only). */
  markUsed(identity: ApiKeyIdentity, at: number): void {
    this.projection.noteUsed(identity.keyId, at);
    this.usedSinceFlush.set(identity.keyId, identity.tenantId);
  }

  /** Publishes the last-used time of the keys used on this replica since the last flush. */
  async flush(): Promise<void> {
    if (this.usedSinceFlush.size === 0) return;
    const batch = [...this.usedSinceFlush];
    this.usedSinceFlush.clear();
    const messages = batch.map(([keyId, tenantId]) =>
      controlRecord(this.writer.codec, 'thoth.v1.KeyUsage', `key-used/${keyId}`, {
        key_id: keyId,
        tenant_id: tenantId,
        last_used_at: this.projection.lastUsedAt(keyId) ?? this.writer.now(),
      }),
    );
    try {
      await this.writer.bus.publish(this.writer.topic, messages);
    } catch (error) {
      for (const [keyId, tenantId] of batch) this.usedSinceFlush.set(keyId, tenantId);
      throw error;
    }
  }
}

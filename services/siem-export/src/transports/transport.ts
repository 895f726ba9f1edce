import type { Formatted } from '../formats/formats.ts';
import type { SiemEvent } from '../siem-event.ts';

export interface DeliveryItem {
  event: SiemEvent;
  formatted: Formatted;
}

/** Items the receiver refused for their content (by index in the batch): they go to the DLQ with the reason. */
export interface DeliveryResult {
  rejected: Array<{ index: number; reason: string }>;
}

/**
 * Where a sink's events go. `deliver` resolves only once the receiver holds the batch (at-least-once rests on
 * it) and throws when the whole batch must be retried later (receiver down, busy, misconfigured).
 */
export interface Transport {
  deliver(items: DeliveryItem[]): Promise<DeliveryResult>;
  close(): Promise<void>;
}

export const delivered: DeliveryResult = Object.freeze({ rejected: [] }) as DeliveryResult;

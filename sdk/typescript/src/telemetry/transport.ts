import type { WireEvent } from './events.ts';

export type SendOutcome = { ok: true } | { ok: false; retryable: boolean; message: string };

/** Where telemetry batches go. Implementations never throw from `send`: they report an outcome. */
export interface TelemetryTransport {
  readonly name: string;
  send(events: readonly WireEvent[]): Promise<SendOutcome>;
  close(): Promise<void>;
}

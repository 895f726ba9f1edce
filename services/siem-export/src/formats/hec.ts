/**
 * Splunk HTTP Event Collector event envelope (`/services/collector/event`): `time` in epoch seconds with
 * millisecond decimals, `host`, `source`, `sourcetype`, `index`, and the formatted `event`. Several envelopes
 * are sent in one request body, concatenated.
 */
export interface HecEnvelopeOptions {
  host: string;
  source: string;
  sourcetype: string;
  /** Absent: the token's default index. */
  index?: string;
}

export interface HecEnvelope {
  time: number;
  host: string;
  source: string;
  sourcetype: string;
  index?: string;
  event: unknown;
}

export function hecEnvelope(timeMs: number, event: unknown, options: HecEnvelopeOptions): HecEnvelope {
  return {
    time: Math.round(timeMs) / 1_000,
    host: options.host,
    source: options.source,
    sourcetype: options.sourcetype,
    ...(options.index ? { index: options.index } : {}),
    event,
  };
}

/** The request body for a batch: envelopes back to back (HEC's documented batch form). */
export function hecBatchBody(envelopes: HecEnvelope[]): string {
  return envelopes.map((e) => JSON.stringify(e)).join('\n');
}

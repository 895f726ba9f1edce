import { withTrailingSlash } from '../enforce-client.ts';
import { errorMessageOf, requestJson } from '../http-json.ts';
import type { WireEvent } from './events.ts';
import type { SendOutcome, TelemetryTransport } from './transport.ts';

const SEND_TIMEOUT_MS = 10_000;

/** POST /v1/events/batch in the TypeScript dialect (`{"events":[…]}`, camelCase). */
export class HttpEventTransport implements TelemetryTransport {
  readonly name = 'http';
  private readonly url: URL;
  private readonly headers: Record<string, string>;

  constructor(apiUrl: URL, apiKey: string) {
    this.url = new URL('v1/events/batch', withTrailingSlash(apiUrl));
    this.headers = { authorization: `Bearer ${apiKey}` };
  }

  async send(events: readonly WireEvent[]): Promise<SendOutcome> {
    const outcome = await requestJson({
      method: 'POST',
      url: this.url,
      headers: this.headers,
      body: { events },
      timeoutMs: SEND_TIMEOUT_MS,
    });
    if (outcome.kind !== 'response') return { ok: false, retryable: true, message: outcome.message };
    if (outcome.status >= 200 && outcome.status < 300) return { ok: true };
    const message = `HTTP ${outcome.status}: ${errorMessageOf(outcome.body, outcome.status)}`;
    // Outages and throttling heal; a rejected batch (400, 401, 403, 413) would be rejected again forever.
    const retryable = outcome.status === 408 || outcome.status === 429 || outcome.status >= 500;
    return { ok: false, retryable, message };
  }

  async close(): Promise<void> {}
}

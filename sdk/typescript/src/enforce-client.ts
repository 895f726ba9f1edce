import { type EnforceDecision, type HoldState, readEnforceDecision, readHoldState } from './decision.ts';
import { classifyFailure, type EnforcerFailure } from './enforcer-failure.ts';
import { requestJson } from './http-json.ts';
import { OutageMonitor } from './outage-monitor.ts';
import { ReceiptKeyring } from './receipt-keys.ts';

/** The body of POST /v1/enforce (snake_case, docs/protocol.md §Enforce request). */
export interface EnforceRequest {
  agent_id: string;
  tenant_id: string;
  tool_name: string;
  session_id: string;
  user_id: string;
  session_tool_calls: string[];
  approved_scope: string[];
  enforcement_mode: string;
  environment: string;
  tool_args: Record<string, unknown>;
  request_id: string;
  occurred_at: string;
  enforcement_trace_id?: string;
  purpose?: string;
  data_classification?: string;
  model_provider?: string;
}

export type EnforceOutcome =
  | {
      ok: true;
      decision: EnforceDecision;
      /** The answer as parsed, for receipt verification. */
      body: unknown;
    }
  | { ok: false; failure: EnforcerFailure };
export type HoldOutcome = { ok: true; state: HoldState } | { ok: false; failure: EnforcerFailure };

/** The enforcer's two data-plane routes. One per API URL + key, shared by every governed tool. */
export class EnforceClient {
  /** Shared so that fail-open warns once per outage of this enforcer, whatever the number of tools. */
  readonly outage = new OutageMonitor();
  /** The receipt-signing public keys of this Thoth, fetched on first use (only when receipts are verified). */
  readonly receiptKeys: ReceiptKeyring;
  private readonly enforceUrl: URL;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly apiUrl: URL,
    apiKey: string,
  ) {
    this.enforceUrl = new URL('v1/enforce', withTrailingSlash(apiUrl));
    this.receiptKeys = new ReceiptKeyring(new URL('v1/keys/receipt', withTrailingSlash(apiUrl)));
    // TypeScript SDKs send the key as Bearer only (docs/protocol.md §SDK dialects).
    this.headers = { authorization: `Bearer ${apiKey}` };
  }

  async enforce(body: EnforceRequest, timeoutMs: number): Promise<EnforceOutcome> {
    const outcome = await requestJson({
      method: 'POST',
      url: this.enforceUrl,
      headers: this.headers,
      body,
      timeoutMs,
    });
    if (outcome.kind === 'response' && outcome.status === 200)
      return { ok: true, decision: readEnforceDecision(outcome.body), body: outcome.body };
    return { ok: false, failure: classifyFailure(outcome) };
  }

  async pollHold(holdToken: string, timeoutMs: number): Promise<HoldOutcome> {
    const url = new URL(`v1/enforce/hold/${encodeURIComponent(holdToken)}`, withTrailingSlash(this.apiUrl));
    const outcome = await requestJson({ method: 'GET', url, headers: this.headers, timeoutMs });
    if (outcome.kind === 'response' && outcome.status === 200)
      return { ok: true, state: readHoldState(outcome.body) };
    // An unknown hold can never be approved.
    if (outcome.kind === 'response' && outcome.status === 404)
      return {
        ok: true,
        state: { resolved: true, approved: false, reason: 'the approval request is unknown to Thoth' },
      };
    return { ok: false, failure: classifyFailure(outcome) };
  }
}

/** `http://host/prefix` + `v1/…` must keep `/prefix`. */
export function withTrailingSlash(url: URL): URL {
  return url.pathname.endsWith('/') ? url : new URL(`${url.href}/`);
}

const clients = new Map<string, EnforceClient>();

export function enforceClientFor(apiUrl: URL, apiKey: string): EnforceClient {
  const id = `${apiUrl.href}\n${apiKey}`;
  let client = clients.get(id);
  if (!client) {
    client = new EnforceClient(apiUrl, apiKey);
    clients.set(id, client);
  }
  return client;
}

import http from 'node:http';
import https from 'node:https';

/**
 * The three data-plane routes the proxy uses: POST /v1/enforce, GET /v1/enforce/hold/{token} and
 * POST /v1/events/batch. node:http with keep-alive: a new connection per tool call would cost more than
 * Thoth's whole decision. Never rejects: every failure is an outcome (fail-open depends on that).
 */

export type ApiOutcome =
  | { kind: 'response'; status: number; body: unknown }
  | { kind: 'unreachable'; message: string }
  | { kind: 'timeout'; message: string };

export class ThothApiClient {
  private readonly agent: http.Agent;
  private readonly base: URL;
  private readonly authorization: string;

  constructor(apiUrl: URL, apiKey: string) {
    this.base = apiUrl.pathname.endsWith('/') ? apiUrl : new URL(`${apiUrl.href}/`);
    this.agent =
      apiUrl.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 32 })
        : new http.Agent({ keepAlive: true, maxSockets: 32 });
    this.authorization = `Bearer ${apiKey}`;
  }

  enforce(body: unknown, timeoutMs: number): Promise<ApiOutcome> {
    return this.request('POST', 'v1/enforce', body, timeoutMs);
  }

  pollHold(holdToken: string, timeoutMs: number): Promise<ApiOutcome> {
    return this.request('GET', `v1/enforce/hold/${encodeURIComponent(holdToken)}`, undefined, timeoutMs);
  }

  postEvents(events: unknown[], timeoutMs: number): Promise<ApiOutcome> {
    return this.request('POST', 'v1/events/batch', { events }, timeoutMs);
  }

  close(): void {
    this.agent.destroy();
  }

  private request(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<ApiOutcome> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (outcome: ApiOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const req = transport.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            accept: 'application/json',
            authorization: this.authorization,
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => settle({ kind: 'unreachable', message: error.message }));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // a non-JSON body (a load balancer's error page) stays text for the message
            }
            settle({ kind: 'response', status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      // One deadline for connect + send + answer, not a socket idle timeout.
      const timer = setTimeout(() => {
        settle({ kind: 'timeout', message: `no answer within ${timeoutMs} ms` });
        req.destroy();
      }, timeoutMs);
      req.on('error', (error: NodeJS.ErrnoException) =>
        settle({
          kind: 'unreachable',
          message: error.code ? `${error.code}: ${error.message}` : error.message,
        }),
      );
      req.end(payload);
    });
  }
}

/** The human text of a failed outcome. */
export function describeOutcome(outcome: ApiOutcome): string {
  if (outcome.kind !== 'response') return `${outcome.kind}: ${outcome.message}`;
  const body = outcome.body;
  if (typeof body === 'object' && body !== null) {
    const { message, error } = body as { message?: unknown; error?: unknown };
    if (typeof message === 'string') return `HTTP ${outcome.status}: ${message}`;
    if (typeof error === 'string') return `HTTP ${outcome.status}: ${error}`;
  }
  return `HTTP ${outcome.status}`;
}

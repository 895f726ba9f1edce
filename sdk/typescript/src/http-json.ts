import http from 'node:http';
import https from 'node:https';

/**
 * JSON over node:http(s) with keep-alive agents. Connection reuse matters: a fresh TCP (or TLS) handshake
 * per tool call would cost more than the enforcer's whole decision. Idle keep-alive sockets are unref'd by
 * Node, so they never keep an agent's process alive.
 */

export type HttpOutcome =
  | { kind: 'response'; status: number; body: unknown; headers: http.IncomingHttpHeaders }
  | { kind: 'unreachable'; message: string }
  | { kind: 'timeout'; message: string };

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

export interface JsonRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
}

/** Never rejects: every transport failure is an outcome the caller classifies (fail-open needs that). */
export function requestJson(request: JsonRequest): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
    const transport = request.url.protocol === 'https:' ? https : http;
    const agent = request.url.protocol === 'https:' ? agents['https:'] : agents['http:'];
    let settled = false;
    const settle = (outcome: HttpOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const req = transport.request(
      request.url,
      {
        method: request.method,
        agent,
        headers: {
          accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...request.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => settle({ kind: 'unreachable', message: error.message }));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // a non-JSON body (a proxy's error page) is kept as text for the error message
          }
          settle({ kind: 'response', status: res.statusCode ?? 0, body, headers: res.headers });
        });
      },
    );
    // One deadline for the whole exchange (connect + send + answer), not a socket idle timeout.
    const timer = setTimeout(() => {
      settle({ kind: 'timeout', message: `no answer within ${request.timeoutMs} ms` });
      req.destroy();
    }, request.timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) =>
      settle({
        kind: 'unreachable',
        message: error.code ? `${error.code}: ${error.message}` : error.message,
      }),
    );
    req.end(payload);
  });
}

/** The human text of an error body (`{"error","message"}`: docs/protocol.md §Errors), else a fallback. */
export function errorMessageOf(body: unknown, status: number): string {
  if (typeof body === 'object' && body !== null) {
    const { message, error } = body as { message?: unknown; error?: unknown };
    if (typeof message === 'string') return message;
    if (typeof error === 'string') return error;
  }
  if (typeof body === 'string' && body.length > 0) return body.slice(0, 200);
  return `HTTP ${status}`;
}

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  type ClassifiedMessage,
  errorResponse,
  INTERNAL_ERROR,
  invalidRequestAnswer,
  type JsonRpcResponse,
  parseErrorAnswer,
  readJsonRpc,
} from './json-rpc.ts';
import type { GovernedOutcome, McpSessionGovernor } from './mcp-session-governor.ts';
import type { GovernanceOptions } from './proxy-options.ts';
import { ProxyRuntime } from './proxy-runtime.ts';
import { SseRewriter, sseEvent } from './sse-rewriter.ts';

export interface HttpProxySettings {
  listenHost: string;
  listenPort: number;
  upstream: URL;
  forwardAuth: boolean;
}

export interface RunningHttpProxy {
  url: string;
  close(): Promise<void>;
}

/** Request headers that belong to one hop, never forwarded (RFC 9110 §7.6.1), plus what Node recomputes. */
const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Sessions whose client never sent DELETE must not grow memory without end. */
const MAX_SESSIONS = 1_000;

/**
 * `thoth mcp proxy --listen HOST:PORT --upstream URL`: serves MCP's Streamable HTTP transport and forwards
 * every request to the upstream server, deciding each `tools/call` with Thoth and filtering `tools/list`
 * results on the way. Session (`Mcp-Session-Id`), protocol-version and resumability (`Last-Event-ID`, SSE
 * event ids) headers pass through; the client's `Authorization` only with `forwardAuth`.
 */
export async function startHttpProxy(
  options: GovernanceOptions,
  settings: HttpProxySettings,
  warn: (message: string) => void,
): Promise<RunningHttpProxy> {
  const runtime = new ProxyRuntime(options, warn);
  const sessions = new Map<string, McpSessionGovernor>();
  // Stateless servers send no session id: their calls share one session per proxy.
  const statelessSession = runtime.session(`mcp-http-${randomUUID()}`);
  const sessionFor = (req: http.IncomingMessage): McpSessionGovernor => {
    const id = req.headers['mcp-session-id'];
    if (typeof id !== 'string' || id === '') return statelessSession;
    let session = sessions.get(id);
    if (!session) {
      session = runtime.session(id);
      sessions.set(id, session);
      if (sessions.size > MAX_SESSIONS) {
        const [oldestId, oldest] = sessions.entries().next().value ?? [];
        if (oldestId !== undefined) sessions.delete(oldestId);
        oldest?.close();
      }
    }
    return session;
  };
  const upstreamAgent =
    settings.upstream.protocol === 'https:'
      ? new https.Agent({ keepAlive: true })
      : new http.Agent({ keepAlive: true });
  const forwarder = new UpstreamForwarder(settings, upstreamAgent, warn);

  const server = http.createServer((req, res) => {
    const session = sessionFor(req);
    const handled =
      req.method === 'POST'
        ? handlePost(req, res, session, forwarder)
        : forwarder.pipe(req, res, req.method === 'GET' ? streamRewriter(session, warn) : undefined);
    handled
      .catch((error: unknown) => {
        warn(`[thoth] proxy error on ${req.method} ${req.url}: ${(error as Error).message}`);
        if (!res.headersSent)
          sendJson(res, 502, errorResponse(null, INTERNAL_ERROR, 'Bad Gateway: the MCP server failed'));
        else res.end();
      })
      .finally(() => {
        if (req.method === 'DELETE' && typeof req.headers['mcp-session-id'] === 'string') {
          sessions.get(req.headers['mcp-session-id'])?.close();
          sessions.delete(req.headers['mcp-session-id']);
        }
      });
  });
  // SSE streams stay open for as long as the client listens.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.listenPort, settings.listenHost, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}${settings.upstream.pathname}`,
    close: async () => {
      for (const session of sessions.values()) session.close();
      statelessSession.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      upstreamAgent.destroy();
      await runtime.close();
    },
  };
}

/**
 * One POST: its message(s) are decided (tools/call waits for Thoth; nothing else does), what may go on is
 * forwarded, and the answers the proxy gives itself (refusals, errors) are merged into the upstream's
 * response, whichever form it takes (JSON or an SSE stream).
 */
async function handlePost(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  session: McpSessionGovernor,
  forwarder: UpstreamForwarder,
): Promise<void> {
  const body = await readBody(req);
  if (body === undefined) return sendJson(res, 413, errorResponse(null, INTERNAL_ERROR, 'Payload Too Large'));
  const read = readJsonRpc(body.toString('utf8'));
  // What the proxy cannot read it does not forward: the server might read it differently, and a tools/call
  // must never reach it undecided. 400 with JSON-RPC's answer, as MCP servers answer it.
  if (read.kind === 'unparseable') return sendJson(res, 400, parseErrorAnswer());
  if (read.kind === 'single' && read.item.kind === 'invalid')
    return sendJson(res, 400, invalidRequestAnswer(read.item));
  const items = read.kind === 'single' ? [read.item] : read.items;

  const replies: JsonRpcResponse[] = [];
  const forwarded: ClassifiedMessage['message'][] = [];
  const decisions: Promise<GovernedOutcome>[] = [];
  let changed = read.kind === 'batch';
  // A held call streams progress: the response becomes an SSE stream from the first notification on.
  const acceptsSse = String(req.headers.accept ?? '').includes('text/event-stream');
  const stream = new LazyEventStream(res);
  for (const item of items) {
    if (item.kind === 'invalid') {
      replies.push(invalidRequestAnswer(item));
      continue;
    }
    const action = session.fromClient(
      item,
      acceptsSse ? (note) => stream.write(JSON.stringify(note)) : undefined,
    );
    if (action.kind === 'forward') forwarded.push(item.message);
    else if (action.kind === 'reply') replies.push(action.message);
    else decisions.push(action.outcome);
    if (action.kind !== 'forward') changed = true;
  }
  for (const outcome of await Promise.all(decisions)) {
    if (outcome.kind === 'forward') forwarded.push(outcome.message);
    else if (outcome.kind === 'reply') replies.push(outcome.message);
  }

  if (forwarded.length === 0) {
    if (stream.opened) return stream.end(replies.map((reply) => JSON.stringify(reply)));
    if (replies.length === 0) return void res.writeHead(202).end();
    return sendJson(res, 200, read.kind === 'single' ? replies[0] : replies);
  }
  const upstreamBody = !changed
    ? body
    : Buffer.from(
        JSON.stringify(read.kind === 'single' && forwarded.length === 1 ? forwarded[0] : forwarded),
      );
  await forwarder.post(req, upstreamBody, res, stream, replies, session);
}

/** The response to the client as an SSE stream opened on first use (only when a held call reports progress). */
class LazyEventStream {
  opened = false;
  constructor(private readonly res: http.ServerResponse) {}

  write(data: string): void {
    if (!this.opened) {
      this.opened = true;
      this.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    }
    this.res.write(sseEvent(data));
  }

  end(datas: string[]): void {
    for (const data of datas) this.write(data);
    this.res.end();
  }
}

class UpstreamForwarder {
  constructor(
    private readonly settings: HttpProxySettings,
    private readonly agent: http.Agent,
    private readonly warn: (message: string) => void,
  ) {}

  /** GET, DELETE and anything else: passed through, an SSE response rewritten event by event. */
  async pipe(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rewriter: SseRewriter | undefined,
  ): Promise<void> {
    const upstream = await this.request(req, req);
    const isSse = String(upstream.headers['content-type'] ?? '').startsWith('text/event-stream');
    res.writeHead(upstream.statusCode ?? 502, responseHeaders(upstream, isSse && rewriter !== undefined));
    if (!isSse || !rewriter) {
      upstream.pipe(res);
      return finished(upstream);
    }
    return this.streamEvents(upstream, res, rewriter);
  }

  async post(
    req: http.IncomingMessage,
    body: Buffer,
    res: http.ServerResponse,
    stream: LazyEventStream,
    replies: JsonRpcResponse[],
    session: McpSessionGovernor,
  ): Promise<void> {
    const upstream = await this.request(req, body);
    const type = String(upstream.headers['content-type'] ?? '');
    const status = upstream.statusCode ?? 502;
    const rewriter = streamRewriter(session, this.warn);
    if (type.startsWith('text/event-stream')) {
      if (!stream.opened) res.writeHead(status, responseHeaders(upstream, true));
      for (const reply of replies) res.write(sseEvent(JSON.stringify(reply)));
      return this.streamEvents(upstream, res, rewriter);
    }
    const text = (await readAll(upstream)).toString('utf8');
    const rewritten = type.startsWith('application/json') ? rewriteJsonBody(text, session) : undefined;
    if (rewritten && rewritten.messages.length > 0) {
      if (stream.opened)
        return stream.end([...rewritten.messages, ...replies.map((reply) => JSON.stringify(reply))]);
      const merged =
        replies.length === 0 && rewritten.unchanged
          ? text
          : joinMessages(
              [...rewritten.messages, ...replies.map((reply) => JSON.stringify(reply))],
              rewritten.wasBatch || replies.length > 0,
            );
      res.writeHead(status, { ...responseHeaders(upstream, true), 'content-type': type });
      return void res.end(merged);
    }
    // No JSON-RPC in the answer (202 for notifications, or an HTTP error): the proxy's own answers still go out.
    if (stream.opened) return stream.end(replies.map((reply) => JSON.stringify(reply)));
    if (replies.length > 0 && status === 202)
      return sendJson(res, 200, replies.length === 1 ? replies[0] : replies);
    res.writeHead(status, responseHeaders(upstream, true));
    res.end(text);
  }

  private async streamEvents(
    upstream: http.IncomingMessage,
    res: http.ServerResponse,
    rewriter: SseRewriter,
  ): Promise<void> {
    upstream.on('data', (chunk: Buffer) => {
      const out = rewriter.push(chunk);
      if (out) res.write(out);
    });
    // The client left: stop reading the upstream stream.
    res.on('close', () => upstream.destroy());
    await finished(upstream);
    res.end(rewriter.end());
  }

  private request(
    req: http.IncomingMessage,
    body: Buffer | http.IncomingMessage,
  ): Promise<http.IncomingMessage> {
    const target = upstreamUrl(this.settings.upstream, req.url ?? '/');
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (HOP_HEADERS.has(name) || value === undefined) continue;
      if (name === 'authorization' && !this.settings.forwardAuth) continue;
      headers[name] = value;
    }
    if (Buffer.isBuffer(body)) headers['content-length'] = body.length;
    else if (req.headers['content-length'] !== undefined)
      headers['content-length'] = req.headers['content-length'];
    else if (req.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';
    const transport = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const upstreamReq = transport.request(
        target,
        { method: req.method, headers, agent: this.agent },
        resolve,
      );
      upstreamReq.on('error', reject);
      if (Buffer.isBuffer(body)) upstreamReq.end(body);
      else body.pipe(upstreamReq);
    });
  }
}

/** The upstream endpoint for the proxy's endpoint (any path that is the upstream's, or `/`); other paths
 * (e.g. OAuth metadata under /.well-known) go to the same path on the upstream's origin. */
export function upstreamUrl(upstream: URL, requestPath: string): URL {
  const requested = new URL(requestPath, 'http://proxy.invalid');
  if (requested.pathname === '/' || requested.pathname === upstream.pathname) {
    const target = new URL(upstream.href);
    for (const [key, value] of requested.searchParams) target.searchParams.append(key, value);
    return target;
  }
  return new URL(requested.pathname + requested.search, upstream.origin);
}

function streamRewriter(session: McpSessionGovernor, warn: (message: string) => void): SseRewriter {
  return new SseRewriter((data) => {
    if (data === '') return undefined; // priming events (an id, no message) keep resumability working
    const rewritten = rewriteJsonBody(data, session);
    if (rewritten.messages.length === 0) {
      warn(`[thoth] dropped an SSE event from the MCP server that is not JSON-RPC`);
      return null;
    }
    return rewritten.unchanged ? undefined : joinMessages(rewritten.messages, rewritten.wasBatch);
  });
}

/** Server messages of one body through the session's rules; unreadable ones are dropped. */
function rewriteJsonBody(
  text: string,
  session: McpSessionGovernor,
): { messages: string[]; unchanged: boolean; wasBatch: boolean } {
  const read = readJsonRpc(text);
  if (read.kind === 'unparseable') return { messages: [], unchanged: false, wasBatch: false };
  const items = read.kind === 'single' ? [read.item] : read.items;
  let unchanged = true;
  const messages: string[] = [];
  for (const item of items) {
    if (item.kind === 'invalid') {
      unchanged = false;
      continue;
    }
    const action = session.fromServer(item);
    if (action.kind === 'rewrite') unchanged = false;
    messages.push(JSON.stringify(action.kind === 'rewrite' ? action.message : item.message));
  }
  return { messages, unchanged, wasBatch: read.kind === 'batch' };
}

function joinMessages(messages: string[], asBatch: boolean): string {
  return asBatch || messages.length !== 1 ? `[${messages.join(',')}]` : (messages[0] ?? '');
}

function responseHeaders(upstream: http.IncomingMessage, bodyChanges: boolean): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value === undefined || name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding')
      continue;
    if (bodyChanges && name === 'content-length') continue;
    headers[name] = value;
  }
  return headers;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function readAll(stream: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function finished(stream: http.IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded || stream.destroyed) return resolve();
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', () => resolve());
  });
}

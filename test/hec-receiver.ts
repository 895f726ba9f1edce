import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';

/**
 * A local stand-in for Splunk's HTTP Event Collector, following its documented request/response contract
 * (hosted Splunk cannot run here): `POST /services/collector/event` with `Authorization: Splunk <token>`,
 * batched JSON envelopes, optional gzip; answers `{"text":"Success","code":0}` (+ `ackId` with indexer
 * acknowledgement, which needs `X-Splunk-Request-Channel`) or an error with Splunk's status codes: 2 token
 * required (401), 3 invalid authorization (401), 4 invalid token (403), 5 no data (400), 6 invalid data format
 * (400, with invalid-event-number), 7 incorrect index (400), 9 server busy (503), 10 data channel missing
 * (400), 12 event field required (400). `POST /services/collector/ack` answers `{"acks":{"<id>":true}}`.
 * A request either indexes all its events or none.
 */
export interface HecToken {
  defaultIndex: string;
  allowedIndexes: string[];
  ack: boolean;
}

export interface IndexedEvent {
  token: string;
  index: string;
  envelope: Record<string, unknown>;
}

export class HecReceiver {
  readonly indexed: IndexedEvent[] = [];
  /** While true, every request is answered 503 / code 9 (server busy). */
  busy = false;
  /** Events whose JSON contains this marker are refused as invalid data (code 6). */
  poisonMarker = 'POISON-EVENT';
  readonly answered = new Map<number, number>();
  private server: Server | undefined;
  private nextAckId = new Map<string, number>();
  private readonly acked = new Map<string, Set<number>>();

  constructor(private readonly tokens: Record<string, HecToken>) {}

  async start(): Promise<number> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(({ status, body }) => {
        this.answered.set(status, (this.answered.get(status) ?? 0) + 1);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    return (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: Record<string, unknown> }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://hec');
    const auth = req.headers.authorization;
    if (!auth) return { status: 401, body: { text: 'Token is required', code: 2 } };
    const match = /^Splunk (\S+)$/.exec(auth);
    if (!match) return { status: 401, body: { text: 'Invalid authorization', code: 3 } };
    const token = this.tokens[match[1]!];
    if (!token) return { status: 403, body: { text: 'Invalid token', code: 4 } };
    if (this.busy) return { status: 503, body: { text: 'Server is busy', code: 9 } };
    const channel =
      (req.headers['x-splunk-request-channel'] as string | undefined) ?? url.searchParams.get('channel');
    if (url.pathname === '/services/collector/ack') {
      if (!channel) return { status: 400, body: { text: 'Data channel is missing', code: 10 } };
      const asked = (JSON.parse(raw.toString('utf8')) as { acks: number[] }).acks;
      const done = this.acked.get(channel) ?? new Set();
      return {
        status: 200,
        body: { acks: Object.fromEntries(asked.map((id) => [String(id), done.has(id)])) },
      };
    }
    if (url.pathname !== '/services/collector/event')
      return { status: 404, body: { text: 'Not found', code: 404 } };
    if (token.ack && !channel) return { status: 400, body: { text: 'Data channel is missing', code: 10 } };
    if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
    const text = raw.toString('utf8').trim();
    if (!text) return { status: 400, body: { text: 'No data', code: 5 } };
    const envelopes = splitJsonObjects(text);
    if (!envelopes)
      return { status: 400, body: { text: 'Invalid data format', code: 6, 'invalid-event-number': 0 } };
    const accepted: IndexedEvent[] = [];
    for (const [n, json] of envelopes.entries()) {
      if (json.includes(this.poisonMarker))
        return { status: 400, body: { text: 'Invalid data format', code: 6, 'invalid-event-number': n } };
      const envelope = JSON.parse(json) as Record<string, unknown>;
      if (envelope.event === undefined)
        return {
          status: 400,
          body: { text: 'Event field is required', code: 12, 'invalid-event-number': n },
        };
      const index = (envelope.index as string | undefined) ?? token.defaultIndex;
      if (!token.allowedIndexes.includes(index))
        return { status: 400, body: { text: 'Incorrect index', code: 7, 'invalid-event-number': n } };
      accepted.push({ token: match[1]!, index, envelope });
    }
    this.indexed.push(...accepted);
    if (!token.ack || !channel) return { status: 200, body: { text: 'Success', code: 0 } };
    const ackId = this.nextAckId.get(channel) ?? 0;
    this.nextAckId.set(channel, ackId + 1);
    // Indexed a moment later, as a real indexer would: the first ack query may say false.
    setTimeout(() => {
      const set = this.acked.get(channel) ?? new Set();
      set.add(ackId);
      this.acked.set(channel, set);
    }, 50);
    return { status: 200, body: { text: 'Success', code: 0, ackId } };
  }
}

/** HEC batches are JSON objects back to back (whitespace allowed between): split them, or undefined. */
function splitJsonObjects(text: string): string[] | undefined {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}') {
      depth--;
      if (depth < 0) return undefined;
      if (depth === 0) out.push(text.slice(start, i + 1));
    } else if (depth === 0 && !/\s/.test(c)) return undefined;
  }
  if (depth !== 0) return undefined;
  try {
    for (const o of out) JSON.parse(o);
  } catch {
    return undefined;
  }
  return out;
}

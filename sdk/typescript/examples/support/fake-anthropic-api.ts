import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the Anthropic Messages API (POST /v1/messages, the wire format only), so the example runs
 * without an account: the "model" first asks for two tools, then, once it has their tool_result blocks,
 * ends the turn with a summary of what the tools said.
 */

interface ContentBlock {
  type: string;
  tool_use_id?: string;
  content?: unknown;
  is_error?: boolean;
}
interface MessagesRequest {
  model: string;
  messages: { role: string; content: string | ContentBlock[] }[];
}

export interface FakeModelServer {
  url: string;
  close(): Promise<void>;
}

export async function startFakeAnthropicApi(): Promise<FakeModelServer> {
  let nextId = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url?.startsWith('/v1/messages')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'not found' } }));
        return;
      }
      const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as MessagesRequest;
      const last = request.messages.at(-1);
      const results = Array.isArray(last?.content)
        ? last.content.filter((b) => b.type === 'tool_result')
        : [];
      const base = {
        id: `msg_${++nextId}`,
        type: 'message',
        role: 'assistant',
        model: request.model,
        stop_sequence: null,
        usage: { input_tokens: 20, output_tokens: 10 },
      };
      const body =
        results.length === 0
          ? {
              ...base,
              content: [
                { type: 'text', text: 'Let me look that up and pay the invoice.' },
                {
                  type: 'tool_use',
                  id: 'toolu_01',
                  name: 'search_docs',
                  input: { query: 'quarterly report' },
                },
                {
                  type: 'tool_use',
                  id: 'toolu_02',
                  name: 'submit_payment',
                  input: { invoice_id: 'INV-001', amount: 1500 },
                },
              ],
              stop_reason: 'tool_use',
            }
          : {
              ...base,
              content: [
                {
                  type: 'text',
                  text: results
                    .map(
                      (r) =>
                        `${r.is_error ? 'error' : 'ok'}: ${typeof r.content === 'string' ? r.content : JSON.stringify(r.content)}`,
                    )
                    .join('\n'),
                },
              ],
              stop_reason: 'end_turn',
            };
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_${nextId}` });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

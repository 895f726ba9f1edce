import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeModelServer } from './fake-anthropic-api.ts';

/**
 * A stand-in for OpenAI's Chat Completions API (POST /v1/chat/completions, the wire format only): the
 * "model" first calls two functions, then answers with what the `tool` messages said.
 */

interface ChatRequest {
  model: string;
  messages: { role: string; content: string | null; tool_call_id?: string }[];
}

export async function startFakeOpenAIApi(): Promise<FakeModelServer> {
  let nextId = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url?.startsWith('/v1/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } }));
        return;
      }
      const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequest;
      const toolMessages = request.messages.filter((m) => m.role === 'tool');
      const message =
        toolMessages.length === 0
          ? {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  id: 'call_01',
                  type: 'function',
                  function: { name: 'search_docs', arguments: JSON.stringify({ query: 'quarterly report' }) },
                },
                {
                  id: 'call_02',
                  type: 'function',
                  function: {
                    name: 'submit_payment',
                    arguments: JSON.stringify({ invoice_id: 'INV-001', amount: 1500 }),
                  },
                },
              ],
            }
          : { role: 'assistant', content: toolMessages.map((m) => m.content).join('\n') };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `chatcmpl-${++nextId}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1_000),
          model: request.model,
          choices: [
            {
              index: 0,
              message,
              finish_reason: toolMessages.length === 0 ? 'tool_calls' : 'stop',
              logprobs: null,
            },
          ],
          usage: { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

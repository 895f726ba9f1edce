import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A man in the middle between the SDK and a real Thoth: forwards every request, and lets a test rewrite the
 * enforce answers (`tamper`), take the receipt-key endpoint down (`keysDown`) and count its fetches.
 */
export interface TamperProxy {
  url: string;
  /** Rewrites each 200 answer of POST /v1/enforce before the SDK reads it; undefined passes answers through. */
  tamper: ((answer: Record<string, unknown>) => void) | undefined;
  /** GET /v1/keys/receipt answers 503 while set. */
  keysDown: boolean;
  /** How many times GET /v1/keys/receipt was asked for. */
  keyFetches: number;
  close(): Promise<void>;
}

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startTamperProxy(target: string): Promise<TamperProxy> {
  const proxy: TamperProxy = {
    url: '',
    tamper: undefined,
    keysDown: false,
    keyFetches: 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer(async (request, response) => {
    const path = request.url ?? '/';
    if (path === '/v1/keys/receipt') {
      proxy.keyFetches++;
      if (proxy.keysDown) {
        response.writeHead(503, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: 'unavailable', message: 'keys are down (test)' }));
        return;
      }
    }
    const body = await bodyOf(request);
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'x-api-key', 'content-type', 'accept'])
      if (typeof request.headers[name] === 'string') headers[name] = request.headers[name] as string;
    const answer = await fetch(`${target}${path}`, {
      method: request.method ?? 'GET',
      headers,
      body: body.length > 0 ? body : undefined,
    });
    let text = await answer.text();
    if (path === '/v1/enforce' && answer.status === 200 && proxy.tamper) {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      proxy.tamper(parsed);
      text = JSON.stringify(parsed);
    }
    response.writeHead(answer.status, { 'content-type': 'application/json' });
    response.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

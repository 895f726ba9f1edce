import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './api-harness.ts';
import { waitFor } from './helpers.ts';
import { watchEventLoop } from './stall-guard.ts';

/**
 * The live tail (GET /v1/stream) under clients that never read (issue #18): memory stays bounded, the event
 * loop is never held, slow clients are dropped; streams are capped per key and per tenant; a revoked key's
 * streams end within a second.
 */

// 10 tenants × 4 keys × 5 streams: 200 streams within the caps (5 per key, 20 per tenant).
const TENANTS = 10;
const KEYS_PER_TENANT = 4;
const STREAMS_PER_KEY = 5;
/** Bytes of events ingested for each tenant: every stream is offered this much… */
const INGEST_BYTES_PER_TENANT = 4 * 1024 * 1024;
/**
 * …in ingests of this size: the ingest route itself holds the loop tens of ms a MB (parse, validate, redact,
 * encode), which is not what this test measures.
 */
const INGEST_BYTES_PER_REQUEST = 256 * 1024;
const EVENT_CONTENT_CHARS = 1_000;

let api: TestApi;
let port = 0;

beforeAll(async () => {
  // It measures the API's loop: without the test-only response check, which runs on that loop too.
  api = await startTestApi({ checkResponses: false });
  await api.service.app.listen({ port: 0, host: '127.0.0.1' });
  port = (api.service.app.server.address() as { port: number }).port;
});

afterAll(async () => {
  await api?.close();
});

async function newKey(tenantId: string, name = 'tail'): Promise<{ key: string; keyId: string }> {
  const { apiKey, record } = await api.service.control.commands.createApiKey({
    tenantId,
    name,
    permissions: ['read', 'write'],
    createdBy: 'test',
  });
  return { key: apiKey, keyId: record.key_id };
}

/**
 * A raw SSE client: sends the request, waits for the stream to be live (`: connected`), then stops reading
 * for good — its socket is paused, so what the server sends piles up in the kernel and then in the server.
 */
function openSilentStream(key: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let head = '';
    const onData = (data: Buffer) => {
      head += data.toString('latin1');
      if (!head.startsWith('HTTP/1.1 200')) {
        if (head.includes('\r\n\r\n')) reject(new Error(`stream refused: ${head.split('\r\n')[0]}`));
        return;
      }
      if (!head.includes(': connected')) return;
      socket.off('data', onData);
      socket.pause();
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(
      `GET /v1/stream HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${key}\r\naccept: text/event-stream\r\n\r\n`,
    );
  });
}

/** About `bytes` of JSON: events of one agent with a ~1 kB content each. */
function eventsOfSize(tenantId: string, bytes: number): Record<string, unknown>[] {
  const words = 'the quarterly report lists invoices paid and pending for each region ';
  const content = words.repeat(Math.ceil(EVENT_CONTENT_CHARS / words.length)).slice(0, EVENT_CONTENT_CHARS);
  const one = {
    tenant_id: tenantId,
    agent_id: 'agent-tail',
    session_id: 's-1',
    event_type: 'TOOL_CALL_POST',
  };
  const count = Math.ceil(bytes / (JSON.stringify(one).length + EVENT_CONTENT_CHARS + 40));
  return Array.from({ length: count }, (_, i) => ({ ...one, tool_name: `tool-${i}`, content }));
}

function openConnections(): Promise<number> {
  return new Promise((resolve, reject) =>
    api.service.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

interface StreamRead {
  status: number;
  text(): string;
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
  abort(): void;
}

/** A reading SSE client (fetch); resolves once the stream is live or answered with an error. */
async function readStream(key: string): Promise<StreamRead & { body: string }> {
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${port}/v1/stream`, {
    headers: { authorization: `Bearer ${key}` },
    signal: controller.signal,
  });
  if (response.status !== 200)
    return {
      status: response.status,
      body: await response.text(),
      text: () => '',
      ended: Promise.resolve(),
      abort: () => {},
    };
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })().catch(() => undefined);
  await waitFor('the stream to be live', () => text.includes(': connected'), 5_000);
  return { status: 200, body: '', text: () => text, ended, abort: () => controller.abort() };
}

/** A client that keeps reading: counts the events it gets, keeps no text. */
async function countingStream(key: string): Promise<{ events(): number; abort(): void }> {
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${port}/v1/stream`, {
    headers: { authorization: `Bearer ${key}` },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let partialLine = '';
  let connected = false;
  let events = 0;
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const lines = (partialLine + decoder.decode(value, { stream: true })).split('\n');
      partialLine = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('event: ')) events++;
        else if (line === ': connected') connected = true;
      }
    }
  })().catch(() => undefined);
  await waitFor('the stream to be live', () => connected, 5_000);
  return { events: () => events, abort: () => controller.abort() };
}

async function ingest(key: string, events: Record<string, unknown>[]): Promise<void> {
  const response = await api.inject({
    method: 'POST',
    url: '/v1/events/batch',
    headers: { authorization: `Bearer ${key}` },
    payload: { events },
  });
  expect(response.statusCode, response.body).toBe(202);
}

describe('live tail under clients that never read', () => {
  it('keeps memory bounded and the loop free while 200 silent clients are offered 4 MB each, and drops them', async () => {
    const tenants = Array.from({ length: TENANTS }, (_, t) => `tail-load-${t}`);
    const writers: string[] = [];
    const sockets: Socket[] = [];
    for (const tenant of tenants) {
      for (let k = 0; k < KEYS_PER_TENANT; k++) {
        const { key } = await newKey(tenant);
        if (k === 0) writers.push(key);
        for (let s = 0; s < STREAMS_PER_KEY; s++) sockets.push(await openSilentStream(key));
      }
    }
    expect(sockets).toHaveLength(TENANTS * KEYS_PER_TENANT * STREAMS_PER_KEY);
    // And one client that keeps up, on a tenant of its own offered as much: it must get every event.
    const readerTenant = 'tail-load-reader';
    const readerKey = (await newKey(readerTenant)).key;
    const reader = await countingStream(readerKey);
    tenants.push(readerTenant);
    writers.push(readerKey);
    // Each tenant's 4 MB as requests of INGEST_BYTES_PER_REQUEST, tenants taking turns.
    const perRequest = eventsOfSize(tenants[0]!, INGEST_BYTES_PER_REQUEST).length;
    const ofTenant = tenants.map((tenant) => eventsOfSize(tenant, INGEST_BYTES_PER_TENANT));
    const requests: Array<{ key: string; events: Record<string, unknown>[] }> = [];
    for (let from = 0; from < ofTenant[0]!.length; from += perRequest)
      for (const [t, events] of ofTenant.entries())
        requests.push({ key: writers[t]!, events: events.slice(from, from + perRequest) });
    // A tenant nobody streams warms the ingest path up (its first call compiles what the rest reuse).
    const warmUp = await newKey('tail-warm-up');
    await ingest(warmUp.key, eventsOfSize('tail-warm-up', INGEST_BYTES_PER_REQUEST));

    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakHeap = before.heapUsed;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peakRss = Math.max(peakRss, now.rss);
      peakHeap = Math.max(peakHeap, now.heapUsed);
    }, 10);
    const guard = watchEventLoop(100);
    const started = Date.now();
    try {
      for (const request of requests) await ingest(request.key, request.events);
      // Every silent client is offered 4 MB: more than the kernel holds for it plus the 1 MiB bound, so each
      // is dropped (its socket cut once the grace for its last words is over); the reader stays.
      await waitFor('every silent client to be dropped', async () => (await openConnections()) === 1, 30_000);
      const readerEvents = ofTenant[tenants.indexOf(readerTenant)]!.length;
      await waitFor('the reader to get every event', () => reader.events() === readerEvents, 10_000);
    } finally {
      clearInterval(sampler);
      guard.stop();
      console.log(
        `[live-tail] ${sockets.length} silent clients + 1 reader, ${tenants.length} × ${INGEST_BYTES_PER_TENANT / 2 ** 20} MB ` +
          `ingested: rss +${((peakRss - before.rss) / 2 ** 20).toFixed(0)} MB, ` +
          `heap +${((peakHeap - before.heapUsed) / 2 ** 20).toFixed(0)} MB, ` +
          `loop held ≤ ${guard.maxMs().toFixed(1)} ms, ${Date.now() - started} ms`,
      );
      for (const socket of sockets) socket.destroy();
      reader.abort();
    }
    expect((peakRss - before.rss) / 2 ** 20).toBeLessThan(300);
    expect(guard.maxMs()).toBeLessThan(100);
  }, 90_000);
});

describe('open streams are capped', () => {
  it('answers 429 past 5 streams of a key and 20 of a tenant, and frees a slot when a stream closes', async () => {
    const tenant = 'tail-caps';
    const keys = await Promise.all(Array.from({ length: 5 }, (_, i) => newKey(tenant, `cap-${i}`)));
    const open: StreamRead[] = [];
    for (let s = 0; s < 5; s++) open.push(await readStream(keys[0]!.key));
    const sixth = await readStream(keys[0]!.key);
    expect(sixth.status).toBe(429);
    expect(JSON.parse(sixth.body)).toEqual({
      error: 'too_many_streams',
      message: expect.stringMatching(/API key.*5 open streams/),
    });

    for (const k of keys.slice(1, 4)) for (let s = 0; s < 5; s++) open.push(await readStream(k.key));
    expect(open).toHaveLength(20);
    const overTenant = await readStream(keys[4]!.key);
    expect(overTenant.status).toBe(429);
    expect(JSON.parse(overTenant.body)).toEqual({
      error: 'too_many_streams',
      message: expect.stringMatching(/tenant.*20 open streams/),
    });

    // A closed stream gives its slot back.
    open[0]!.abort();
    await open[0]!.ended;
    let again: StreamRead | undefined;
    await waitFor(
      'a freed slot',
      async () => {
        again = await readStream(keys[4]!.key);
        return again.status === 200;
      },
      5_000,
    );
    for (const stream of [...open.slice(1), again!]) stream.abort();
  });
});

describe('a revoked key loses its streams', () => {
  it('ends the open streams of a key within a second of its revocation', async () => {
    const tenant = 'tail-revoke';
    const { key, keyId } = await newKey(tenant);
    const streams = [await readStream(key), await readStream(key)];
    const revokedAt = Date.now();
    const revoke = await api.inject({
      method: 'DELETE',
      url: `/${tenant}/thoth/api-keys/${keyId}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(revoke.statusCode).toBe(200);
    await Promise.all(streams.map((s) => s.ended));
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    for (const stream of streams) expect(stream.text()).toContain(': closed: API key revoked');
  });
});

import { EventEmitter } from 'node:events';
import { setImmediate as nextLoopTurn } from 'node:timers/promises';
import { AvroCodec, createLogger, MemoryBus, noRedaction, REDACTED_HEADER } from '@thoth/platform';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { behavioralEvent } from '../../../test/fixtures.ts';
import {
  CLOSE_GRACE_MS,
  encodeTailEvent,
  FANOUT_CHUNK_EVENTS,
  HEARTBEAT_MS,
  LiveTail,
  MAX_BUFFERED_BYTES,
  MAX_STREAMS_PER_KEY,
  MAX_STREAMS_PER_TENANT,
  SseChunk,
  type StreamOwner,
  type TailSink,
  TailStream,
} from './live-tail.ts';

const TOPIC = 'test.events';
const codec = new AvroCodec();
const log = createLogger('silent');

/** A response that keeps what it is given; `backlog` is what its client has not taken yet. */
class FakeSink extends EventEmitter implements TailSink {
  backlog = 0;
  readonly chunks: Array<Buffer | string> = [];
  ending: string | undefined;
  destroyed = false;

  get writableLength(): number {
    return this.backlog;
  }

  write(chunk: Buffer | string): boolean {
    this.chunks.push(chunk);
    return true;
  }

  end(chunk: string): void {
    this.ending = chunk;
  }

  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }

  text(): string {
    return this.chunks.map(String).join('') + (this.ending ?? '');
  }
}

const owner = (tenantId = 'acme', keyId = 'key-1', agentId?: string): StreamOwner => ({
  tenantId,
  keyId,
  agentId,
});
const allowed = () => undefined;

afterEach(() => {
  vi.useRealTimers();
});

describe('encodeTailEvent', () => {
  it('is one SSE event whose data is one line of JSON', () => {
    const event = behavioralEvent({ content: 'line one\nline two' });
    const encoded = encodeTailEvent({ type: 'event', tenantId: 'acme', agentId: 'a', data: event });
    expect(encoded.text).toBe(`event: event\ndata: ${JSON.stringify(event)}\n\n`);
    expect(encoded.text.split('\n')).toHaveLength(4);
  });
});

describe('SseChunk', () => {
  const text = (tenantId: string, agentId: string, n: number) => ({
    tenantId,
    agentId,
    text: `event: event\ndata: {"n":${n}}\n\n`,
  });
  const chunk = new SseChunk([text('acme', 'a', 1), text('beta', 'a', 2), text('acme', 'b', 3)]);

  it('cuts a tenant’s events, or one agent’s, in their order', () => {
    expect(String(chunk.slice('acme', undefined))).toBe(
      'event: event\ndata: {"n":1}\n\nevent: event\ndata: {"n":3}\n\n',
    );
    expect(String(chunk.slice('acme', 'b'))).toBe('event: event\ndata: {"n":3}\n\n');
    expect(chunk.slice('acme', 'c')).toBeUndefined();
    expect(chunk.slice('gamma', undefined)).toBeUndefined();
  });

  it('hands every reader of a slice the same buffer', () => {
    expect(chunk.slice('acme', undefined)).toBe(chunk.slice('acme', undefined));
  });
});

describe('TailStream: a bounded buffer per client', () => {
  const open = (sink: FakeSink, onClose = () => {}) => new TailStream(owner(), sink, allowed, onClose, 0);

  it('writes while what the client has not taken stays within the bound', () => {
    const sink = new FakeSink();
    const stream = open(sink);
    sink.backlog = MAX_BUFFERED_BYTES;
    stream.send('event: event\ndata: {}\n\n', 1);
    expect(stream.closed).toBe(false);
    expect(sink.chunks).toHaveLength(1);
  });

  it('drops a client past the bound with a last comment saying why, and writes nothing more', () => {
    const sink = new FakeSink();
    const onClose = vi.fn();
    const stream = open(sink, onClose);
    sink.backlog = MAX_BUFFERED_BYTES + 1;
    stream.send('event: event\ndata: {}\n\n', 1);
    expect(stream.closed).toBe(true);
    expect(onClose).toHaveBeenCalledOnce();
    expect(sink.chunks).toHaveLength(0);
    expect(sink.ending).toBe(': closed: client too slow (buffer over 1 MiB)\n\n');
    sink.backlog = 0;
    stream.send('event: event\ndata: {}\n\n', 2);
    expect(sink.chunks).toHaveLength(0);
    stream.close('again');
    expect(onClose).toHaveBeenCalledOnce();
  });

  it('cuts the socket of a dropped client that never takes its last comment', () => {
    vi.useFakeTimers();
    const sink = new FakeSink();
    open(sink).close('client too slow');
    vi.advanceTimersByTime(CLOSE_GRACE_MS - 1);
    expect(sink.destroyed).toBe(false);
    vi.advanceTimersByTime(1);
    expect(sink.destroyed).toBe(true);
  });

  it('leaves the socket of a client that took its last comment alone', () => {
    vi.useFakeTimers();
    const sink = new FakeSink();
    open(sink).close('API key revoked');
    sink.emit('close');
    vi.advanceTimersByTime(CLOSE_GRACE_MS);
    expect(sink.destroyed).toBe(false);
  });

  it('releases a stream whose client went away without writing to it', () => {
    const sink = new FakeSink();
    const onClose = vi.fn();
    const stream = open(sink, onClose);
    stream.gone();
    expect(onClose).toHaveBeenCalledOnce();
    expect(sink.ending).toBeUndefined();
  });

  it('heartbeats only after HEARTBEAT_MS without a write', () => {
    const sink = new FakeSink();
    const stream = open(sink);
    stream.send('event: event\ndata: {}\n\n', 1_000);
    stream.heartbeat(1_000 + HEARTBEAT_MS - 1);
    expect(sink.chunks).toHaveLength(1);
    stream.heartbeat(1_000 + HEARTBEAT_MS);
    expect(sink.chunks[1]).toBe(': heartbeat\n\n');
  });
});

describe('LiveTail', () => {
  async function startTail() {
    const bus = new MemoryBus({ defaultPartitions: 1 });
    await bus.ensureTopics([{ name: TOPIC, partitions: 1 }]);
    const tail = new LiveTail({ bus, codec, topic: TOPIC, log, redactor: noRedaction });
    const publish = (tenant: string, agent: string, count: number) =>
      bus.publish(
        TOPIC,
        codec.encodeBatch(
          'thoth.v1.BehavioralEvent',
          `${tenant}/${agent}`,
          Array.from({ length: count }, (_, i) =>
            behavioralEvent({ tenant_id: tenant, agent_id: agent, tool_name: `t${i}` }),
          ),
          { [REDACTED_HEADER]: '1' },
        ),
      );
    return {
      tail,
      publish,
      close: async () => {
        await tail.stop();
        await bus.close();
      },
    };
  }

  it('caps open streams per key and per tenant, and frees a slot when a stream closes', async () => {
    const { tail, close } = await startTail();
    const sinks: FakeSink[] = [];
    const open = (keyId: string) => {
      const sink = new FakeSink();
      sinks.push(sink);
      return tail.open(owner('acme', keyId), sink, allowed);
    };
    for (let i = 0; i < MAX_STREAMS_PER_KEY; i++) expect(open('key-1').ok).toBe(true);
    expect(open('key-1')).toMatchObject({ ok: false, limit: 'key' });
    let key = 2;
    while (tail.openStreams < MAX_STREAMS_PER_TENANT) expect(open(`key-${key++}`).ok).toBe(true);
    expect(open(`key-${key}`)).toMatchObject({ ok: false, limit: 'tenant' });
    expect(tail.open(owner('beta', 'key-b'), new FakeSink(), allowed).ok).toBe(true);
    sinks[0]!.emit('close');
    expect(open('key-1').ok).toBe(true);
    await close();
  });

  it('streams each tenant its own events — an agent’s stream its agent’s — one shared buffer per slice', async () => {
    const { tail, publish, close } = await startTail();
    const sinks = {
      acme1: new FakeSink(),
      acme2: new FakeSink(),
      agentB: new FakeSink(),
      beta: new FakeSink(),
    };
    const opened = [
      tail.open(owner('acme', 'k1'), sinks.acme1, allowed),
      tail.open(owner('acme', 'k2'), sinks.acme2, allowed),
      tail.open(owner('acme', 'k3', 'agent-b'), sinks.agentB, allowed),
      tail.open(owner('beta', 'k4'), sinks.beta, allowed),
    ];
    for (const o of opened) if (o.ok) await o.ready;
    await publish('acme', 'agent-a', 2);
    await publish('acme', 'agent-b', 1);
    await publish('beta', 'agent-a', 1);
    await vi.waitFor(() => expect(sinks.beta.text()).toContain('event: event'));
    await vi.waitFor(() => expect(sinks.acme1.text().match(/^event: /gm)).toHaveLength(3));
    expect(sinks.acme1.text()).toMatch(/^: connected\n\n/);
    expect(sinks.agentB.text().match(/^event: /gm)).toHaveLength(1);
    expect(sinks.agentB.text()).toContain('"agent_id":"agent-b"');
    expect(sinks.beta.text()).not.toContain('"tenant_id":"acme"');
    // The two tenant-wide streams of acme were handed the very same buffers.
    expect(sinks.acme1.chunks.slice(1)).toHaveLength(sinks.acme2.chunks.length - 1);
    for (const [i, chunk] of sinks.acme1.chunks.entries())
      if (i > 0) expect(chunk).toBe(sinks.acme2.chunks[i]);
    await close();
  });

  it('drops a slow client while the others keep streaming', async () => {
    const { tail, publish, close } = await startTail();
    const slow = new FakeSink();
    const fast = new FakeSink();
    const opened = [
      tail.open(owner('acme', 'k1'), slow, allowed),
      tail.open(owner('acme', 'k2'), fast, allowed),
    ];
    for (const o of opened) if (o.ok) await o.ready;
    slow.backlog = MAX_BUFFERED_BYTES + 1;
    await publish('acme', 'agent-a', 3);
    await vi.waitFor(() => expect(fast.text().match(/^event: /gm)).toHaveLength(3));
    expect(slow.ending).toContain('client too slow');
    expect(slow.text()).not.toContain('event: ');
    expect(tail.openStreams).toBe(1);
    await close();
  });

  it('fans a large batch out a chunk per event-loop turn', async () => {
    const { tail, publish, close } = await startTail();
    const sink = new FakeSink();
    const opened = tail.open(owner('acme', 'k1'), sink, allowed);
    if (opened.ok) await opened.ready;
    // Counts event-loop turns, and notes the turn of each write: each chunk should land on a turn of its own.
    let turn = 0;
    let counting = true;
    void (async () => {
      while (counting) {
        await nextLoopTurn();
        turn++;
      }
    })();
    const turnsOfWrites: number[] = [];
    const write = sink.write.bind(sink);
    sink.write = (chunk) => {
      turnsOfWrites.push(turn);
      return write(chunk);
    };
    const events = FANOUT_CHUNK_EVENTS * 8;
    await publish('acme', 'agent-a', events);
    await vi.waitFor(() => expect(sink.text().match(/^event: /gm)).toHaveLength(events));
    counting = false;
    expect(turnsOfWrites.length).toBeGreaterThanOrEqual(8);
    expect(new Set(turnsOfWrites).size).toBe(turnsOfWrites.length);
    await close();
  });

  it('closes a stream within a recheck once its key may no longer read', async () => {
    const { tail, close } = await startTail();
    const sink = new FakeSink();
    let refusal: string | undefined;
    const opened = tail.open(owner('acme', 'k1'), sink, () => refusal);
    if (opened.ok) await opened.ready;
    refusal = 'API key revoked';
    const at = Date.now();
    await vi.waitFor(() => expect(sink.ending).toBe(': closed: API key revoked\n\n'), { timeout: 1_000 });
    expect(Date.now() - at).toBeLessThan(600);
    expect(tail.openStreams).toBe(0);
    await close();
  });

  it('says goodbye to its streams when it stops', async () => {
    const { tail, close } = await startTail();
    const sink = new FakeSink();
    const opened = tail.open(owner('acme', 'k1'), sink, allowed);
    if (opened.ok) await opened.ready;
    await close();
    expect(sink.ending).toBe(': closed: server shutting down\n\n');
  });
});

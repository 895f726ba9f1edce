import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { BehavioralEvent, DecisionEvent } from '@thoth/contracts';
import type { AvroCodec, Batch, Bus, Logger, Redactor, Subscription } from '@thoth/platform';
import { decodeRecords } from '@thoth/platform';

/** Open streams one API key may hold on one replica. */
export const MAX_STREAMS_PER_KEY = 5;
/** Open streams one tenant (all its keys together) may hold on one replica. */
export const MAX_STREAMS_PER_TENANT = 20;
/**
 * What a stream may have written and its client not yet taken (beyond what the kernel already holds for it)
 * before it is dropped: a client that reads slower than its events arrive is cut, never buffered without bound.
 */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/**
 * Events fanned out in one go before the event loop is let go (so /healthz and other requests keep flowing),
 * or fewer once their SSE text reaches FANOUT_CHUNK_BYTES: a chunk costs at most its bytes times the streams of
 * one tenant (MAX_STREAMS_PER_TENANT) in socket writes.
 */
export const FANOUT_CHUNK_EVENTS = 64;
export const FANOUT_CHUNK_BYTES = 64 * 1024;
/** How often each open stream's key is checked again: a revoked key's streams end within about this. */
export const KEY_RECHECK_MS = 250;
/** A comment sent on a stream that had nothing else for this long, so proxies keep it open. */
export const HEARTBEAT_MS = 15_000;
/** How long a closed stream may take to flush its last text before its socket is cut. */
export const CLOSE_GRACE_MS = 5_000;
/** How long the subscription outlives its last stream (a reconnecting console should not churn groups). */
const IDLE_MS = 30_000;

export interface TailEvent {
  type: 'event' | 'decision';
  tenantId: string;
  agentId: string;
  data: BehavioralEvent | DecisionEvent;
}

/** Where a stream's SSE text goes: the HTTP response (its `writableLength` is what the client has not taken). */
export interface TailSink {
  readonly writableLength: number;
  write(chunk: Buffer | string): boolean;
  end(chunk: string): void;
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** Who opened a stream and what it reads: the tenant's events, or one agent's. */
export interface StreamOwner {
  tenantId: string;
  keyId: string;
  agentId: string | undefined;
}

/**
 * Why the stream's key may no longer read (revoked, expired…), or undefined while it still may. Called every
 * KEY_RECHECK_MS while the stream is open.
 */
export type AccessCheck = () => string | undefined;

export type OpenedStream =
  | { ok: true; stream: TailStream; ready: Promise<void> }
  | { ok: false; limit: 'key' | 'tenant'; message: string };

/** An event as it goes out: its SSE text, encoded once whatever the number of streams that read it. */
export interface EncodedEvent {
  tenantId: string;
  agentId: string;
  text: string;
}

/** The SSE text of one event. JSON has no raw newline, so `data` is one line. */
export function encodeTailEvent(event: TailEvent): EncodedEvent {
  return {
    tenantId: event.tenantId,
    agentId: event.agentId,
    text: `event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`,
  };
}

/**
 * A chunk of encoded events, cut into what each stream reads (a tenant's events, or one agent's). Each slice
 * is joined into one buffer once, and every stream reading it is handed that same buffer: N streams cost N
 * references to it, not N copies.
 */
export class SseChunk {
  private readonly slices = new Map<string, Buffer | null>();

  constructor(private readonly events: readonly EncodedEvent[]) {}

  /** The chunk's events of `tenantId` (and `agentId`, if given), or undefined when there are none. */
  slice(tenantId: string, agentId: string | undefined): Buffer | undefined {
    const key = JSON.stringify([tenantId, agentId ?? null]);
    let slice = this.slices.get(key);
    if (slice === undefined) {
      const texts = this.events
        .filter((e) => e.tenantId === tenantId && (agentId === undefined || e.agentId === agentId))
        .map((e) => e.text);
      slice = texts.length > 0 ? Buffer.from(texts.join('')) : null;
      this.slices.set(key, slice);
    }
    return slice ?? undefined;
  }
}

/**
 * One client's stream. What is written goes straight to its socket; before each write the stream looks at
 * what the client has not taken yet, and past MAX_BUFFERED_BYTES it is closed with a last comment saying why.
 */
export class TailStream {
  /** Set once the stream is closed: nothing more is written. */
  closed = false;
  /** False until the live tail reads for it (it then says `: connected`): events are fanned out from there. */
  live = false;
  private lastWriteAt: number;

  constructor(
    readonly owner: StreamOwner,
    private readonly sink: TailSink,
    readonly checkAccess: AccessCheck,
    private readonly onClose: (stream: TailStream) => void,
    now: number,
  ) {
    this.lastWriteAt = now;
  }

  /** Writes `chunk`, or drops the client when it is already too far behind. */
  send(chunk: Buffer | string, now: number): void {
    if (this.closed) return;
    if (this.sink.writableLength > MAX_BUFFERED_BYTES) {
      this.close(`client too slow (buffer over ${MAX_BUFFERED_BYTES / 1024 / 1024} MiB)`);
      return;
    }
    this.sink.write(chunk);
    this.lastWriteAt = now;
  }

  /** Sends a heartbeat when nothing was written for HEARTBEAT_MS. */
  heartbeat(now: number): void {
    if (now - this.lastWriteAt >= HEARTBEAT_MS) this.send(': heartbeat\n\n', now);
  }

  /**
   * Ends the stream with `: closed: <reason>`. A client that still reads gets it after what it has not read yet;
   * one that does not has its socket cut after CLOSE_GRACE_MS (a socket nobody reads never finishes ending).
   */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    this.sink.end(`: closed: ${reason}\n\n`);
    const cut = setTimeout(() => this.sink.destroy(), CLOSE_GRACE_MS);
    cut.unref();
    this.sink.once('close', () => clearTimeout(cut));
  }

  /** The client went away: release the stream without writing to it. */
  gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
  }
}

/**
 * New events and decisions as they reach the bus, fanned out to live streams (GET /v1/stream). An API replica
 * reads the events topic only while someone listens: the subscription (a group of its own, from the end,
 * offsets never needed again) starts with the first stream and stops a while after the last one left.
 *
 * Bounded on every side: streams per key and per tenant are capped, a slow client is dropped once
 * MAX_BUFFERED_BYTES wait for it, events are encoded once per chunk for all streams, a batch is fanned out a
 * chunk at a time with the event loop let go in between (the bus waits meanwhile: backpressure), and every
 * stream's key is checked again every KEY_RECHECK_MS.
 */
export class LiveTail {
  /** Open streams by tenant: what a tenant's events fan out to, and its count against the cap. */
  private readonly byTenant = new Map<string, Set<TailStream>>();
  private readonly perKey = new Map<string, number>();
  /** The last fan-out turn handed out: every partition's handler takes turns from this one chain. */
  private lastTurn: Promise<void> = Promise.resolve();
  private subscription: Promise<Subscription> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      bus: Bus;
      codec: AvroCodec;
      topic: string;
      log: Logger;
      /** Events that reached the bus without the API's redaction are redacted before they are streamed. */
      redactor: Redactor;
    },
  ) {}

  /**
   * Opens a stream to `sink` unless its key or tenant is at its cap. The caller writes the response head right
   * after (before it awaits anything); `ready` resolves once events flow to the stream, which is then told
   * `: connected` — a client that waits for it misses nothing after it.
   */
  open(owner: StreamOwner, sink: TailSink, checkAccess: AccessCheck): OpenedStream {
    const forKey = this.perKey.get(owner.keyId) ?? 0;
    const ofTenant = this.byTenant.get(owner.tenantId) ?? new Set<TailStream>();
    if (forKey >= MAX_STREAMS_PER_KEY)
      return {
        ok: false,
        limit: 'key',
        message: `this API key already has ${MAX_STREAMS_PER_KEY} open streams, the most one key may hold: close one first`,
      };
    if (ofTenant.size >= MAX_STREAMS_PER_TENANT)
      return {
        ok: false,
        limit: 'tenant',
        message: `this tenant already has ${MAX_STREAMS_PER_TENANT} open streams, the most one tenant may hold: close one first`,
      };
    const stream = new TailStream(owner, sink, checkAccess, (s) => this.release(s), Date.now());
    sink.once('close', () => stream.gone());
    this.perKey.set(owner.keyId, forKey + 1);
    this.byTenant.set(owner.tenantId, ofTenant.add(stream));
    clearTimeout(this.idleTimer);
    this.sweepTimer ??= setInterval(() => this.sweep(), KEY_RECHECK_MS).unref();
    this.subscription ??= this.subscribe();
    const ready = this.subscription.then(
      () => {
        stream.send(': connected\n\n', Date.now());
        stream.live = true;
      },
      () => stream.close('live tail unavailable'),
    );
    return { ok: true, stream, ready };
  }

  /** How many streams are open (a stream counts from `open` until it closed). */
  get openStreams(): number {
    let open = 0;
    for (const streams of this.byTenant.values()) open += streams.size;
    return open;
  }

  async stop(): Promise<void> {
    for (const stream of this.allStreams()) stream.close('server shutting down');
    clearTimeout(this.idleTimer);
    const subscription = this.subscription;
    this.subscription = undefined;
    await (await subscription)?.stop();
  }

  private release(stream: TailStream): void {
    const { keyId, tenantId } = stream.owner;
    const ofTenant = this.byTenant.get(tenantId);
    if (!ofTenant?.delete(stream)) return;
    if (ofTenant.size === 0) this.byTenant.delete(tenantId);
    const forKey = (this.perKey.get(keyId) ?? 0) - 1;
    if (forKey > 0) this.perKey.set(keyId, forKey);
    else this.perKey.delete(keyId);
    if (this.byTenant.size > 0) return;
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.idleTimer = setTimeout(() => void this.stop(), IDLE_MS);
  }

  /** Closes the streams whose key may no longer read; heartbeats the quiet ones. */
  private sweep(): void {
    const now = Date.now();
    for (const stream of this.allStreams()) {
      const refused = stream.checkAccess();
      if (refused !== undefined) stream.close(refused);
      else if (stream.live) stream.heartbeat(now);
    }
  }

  private subscribe(): Promise<Subscription> {
    const started = this.deps.bus.subscribe({
      group: `${this.deps.topic}.live-tail.${randomUUID()}`,
      topics: [this.deps.topic],
      fromBeginning: false,
      // A new group at every start: it must not hold the topic's retention once it stops.
      ephemeral: true,
      handler: (batch) => this.fanOutBatch(batch),
    });
    started.catch((error: unknown) => {
      this.deps.log.error({ err: error }, 'live tail could not subscribe');
      this.subscription = undefined;
    });
    return started;
  }

  /**
   * Fans a bus batch out a chunk at a time, one chunk per event-loop turn (the bus waits for the handler
   * meanwhile: backpressure). Events of tenants nobody streams are skipped before they are encoded.
   */
  private async fanOutBatch(batch: Batch): Promise<void> {
    let chunk: EncodedEvent[] = [];
    let bytes = 0;
    for (const message of batch.messages) {
      if (this.byTenant.size === 0) return; // nobody listens any more (the subscription idles)
      // Messages are keyed `tenant/agent`: another tenant's are skipped before anything is decoded.
      if (!this.byTenant.has(message.key.slice(0, message.key.indexOf('/')))) continue;
      const decoded = decodeRecords(this.deps.codec, message, this.deps.redactor);
      if (!decoded.ok) continue; // a throwaway group: the consumers that own the topic DLQ it
      for (const record of decoded.records) {
        if (record.schema !== 'thoth.v1.DecisionEvent' && record.schema !== 'thoth.v1.BehavioralEvent')
          continue;
        if (!this.byTenant.has(record.value.tenant_id)) continue;
        const event = encodeTailEvent({
          type: record.schema === 'thoth.v1.DecisionEvent' ? 'decision' : 'event',
          tenantId: record.value.tenant_id,
          agentId: record.value.agent_id,
          data: record.value,
        });
        chunk.push(event);
        bytes += event.text.length;
        if (chunk.length >= FANOUT_CHUNK_EVENTS || bytes >= FANOUT_CHUNK_BYTES) {
          await this.nextTurn();
          this.fanOut(chunk);
          chunk = [];
          bytes = 0;
        }
      }
    }
    if (chunk.length === 0) return;
    await this.nextTurn();
    this.fanOut(chunk);
  }

  /**
   * Resolves on an event-loop turn of its own: the handlers of several partitions fan out one chunk per turn
   * between them, not one each in the same turn.
   */
  private nextTurn(): Promise<void> {
    const turn = this.lastTurn.then(() => yieldToLoop());
    this.lastTurn = turn;
    return turn;
  }

  private fanOut(events: readonly EncodedEvent[]): void {
    const chunk = new SseChunk(events);
    const now = Date.now();
    for (const tenantId of new Set(events.map((e) => e.tenantId)))
      for (const stream of this.byTenant.get(tenantId) ?? []) {
        if (!stream.live) continue;
        const slice = chunk.slice(tenantId, stream.owner.agentId);
        if (slice) stream.send(slice, now);
      }
  }

  /** A copy: closing a stream while walking them removes it from its set. */
  private allStreams(): TailStream[] {
    return [...this.byTenant.values()].flatMap((streams) => [...streams]);
  }
}

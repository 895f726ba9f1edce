import type { TopicSpec } from '@thoth/contracts';
import {
  type Batch,
  type BatchHandler,
  type Bus,
  type ChangeListener,
  type CompactedView,
  type Headers,
  type IncomingMessage,
  mapView,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type ViewOptions,
} from '../bus/bus.ts';
import { asBuffer, ownBytes, type RpcPort } from './rpc-port.ts';

/**
 * The bus of the main thread, used from another thread: `serveBus` answers on the main thread, `BridgedBus`
 * is the Bus the other thread's consumers are given. Semantics stay the bus's own: the main thread's
 * subscription calls its handler with each batch, the handler is the other thread's (the batch crosses, the
 * handler runs there, its outcome crosses back), and offsets commit only once it resolved there.
 */

type WireSubscribe = Omit<SubscribeOptions, 'handler'>;
type WireMessage = Omit<OutgoingMessage, 'value'> & { value: Uint8Array | null };

/** Answers the bus calls of a BridgedBus on the other end of `rpc`. `close` stops what it opened. */
export function serveBus(rpc: RpcPort, bus: Bus): { close(): Promise<void> } {
  const subscriptions = new Map<number, Subscription>();
  const views = new Map<number, CompactedView>();
  rpc.handle('bus.ensureTopics', (specs: TopicSpec[]) => bus.ensureTopics(specs));
  rpc.handle('bus.publish', (topic: string, messages: WireMessage[]) =>
    bus.publish(
      topic,
      messages.map((m) => ({ ...m, value: m.value === null ? null : asBuffer(m.value) })),
    ),
  );
  rpc.handle('bus.subscribe', async (id: number, options: WireSubscribe) => {
    const subscription = await bus.subscribe({
      ...options,
      handler: (batch) =>
        rpc.call<void>('bus.batch', id, { ...batch, messages: batch.messages.map(crossingMessage) }),
    });
    subscriptions.set(id, subscription);
  });
  rpc.handle('bus.unsubscribe', async (id: number) => {
    await subscriptions.get(id)?.stop();
    subscriptions.delete(id);
  });
  rpc.handle('bus.openView', async (id: number, topic: string, options?: ViewOptions) => {
    const view = await bus.openView(
      topic,
      (key, value, headers) => rpc.notify('bus.viewChange', id, key, value && ownBytes(value), headers),
      // The thread keeps its own copy (below): the main thread's need not hold the values too.
      { ...options, retain: false },
    );
    views.set(id, view);
  });
  rpc.handle('bus.closeView', async (id: number) => {
    await views.get(id)?.close();
    views.delete(id);
  });
  rpc.handle('bus.lag', (group: string, topic: string) => bus.lag(group, topic));
  return {
    close: async () => {
      await Promise.all([...subscriptions.values()].map((s) => s.stop()));
      await Promise.all([...views.values()].map((v) => v.close()));
      subscriptions.clear();
      views.clear();
    },
  };
}

/** A Bus whose calls are answered by `serveBus` on the main thread. Closing it leaves the bus itself open. */
export class BridgedBus implements Bus {
  private nextId = 1;
  private readonly handlers = new Map<number, BatchHandler>();
  private readonly viewListeners = new Map<
    number,
    (key: string, value: Buffer | null, headers: Headers) => void
  >();

  constructor(private readonly rpc: RpcPort) {
    rpc.handle('bus.batch', (id: number, batch: Batch) => {
      const handler = this.handlers.get(id);
      if (!handler) throw new Error(`no subscription ${id} on this thread`);
      return handler({ ...batch, messages: batch.messages.map(withBuffer) });
    });
    rpc.handle('bus.viewChange', (id: number, key: string, value: Uint8Array | null, headers: Headers) => {
      this.viewListeners.get(id)?.(key, value === null ? null : asBuffer(value), headers);
    });
  }

  ensureTopics(specs: TopicSpec[]): Promise<void> {
    return this.rpc.call('bus.ensureTopics', specs);
  }

  publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    return this.rpc.call(
      'bus.publish',
      topic,
      messages.map((m) => ({ ...m, value: m.value && ownBytes(m.value) })),
    );
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const id = this.nextId++;
    const { handler, ...wire } = options;
    this.handlers.set(id, handler);
    await this.rpc.call('bus.subscribe', id, wire satisfies WireSubscribe);
    return {
      stop: async () => {
        await this.rpc.call('bus.unsubscribe', id);
        this.handlers.delete(id);
      },
    };
  }

  async openView(topic: string, onChange?: ChangeListener, options?: ViewOptions): Promise<CompactedView> {
    const id = this.nextId++;
    const map = new Map<string, Buffer>();
    const retain = options?.retain ?? true;
    // Changes arrive in topic order, the initial load's before the call's answer: the map is the view's copy.
    this.viewListeners.set(id, (key, value, headers) => {
      if (retain) {
        if (value === null) map.delete(key);
        else map.set(key, value);
      }
      onChange?.(key, value, headers);
    });
    await this.rpc.call('bus.openView', id, topic, options);
    return mapView(map, async () => {
      this.viewListeners.delete(id);
      await this.rpc.call('bus.closeView', id);
    });
  }

  lag(group: string, topic: string): Promise<number> {
    return this.rpc.call('bus.lag', group, topic);
  }

  /** The bus belongs to the main thread, which closes it. */
  async close(): Promise<void> {}
}

function withBuffer(message: IncomingMessage): IncomingMessage {
  return { ...message, value: message.value === null ? null : asBuffer(message.value) };
}

function crossingMessage(
  message: IncomingMessage,
): Omit<IncomingMessage, 'value'> & { value: Uint8Array | null } {
  return { ...message, value: message.value && crossingBytes(message.value) };
}

/** Below this, a message's bytes are cloned as they are: a SharedArrayBuffer costs more to set up than it saves. */
const SHARED_FROM_BYTES = 16 * 1024;

/**
 * Each message's bytes as shared memory, made once however many groups of the thread read the message (the bus
 * hands every group the same value). Structured clone copies a plain ArrayBuffer's bytes twice for each crossing
 * (written into the message here, read out of it there), once per group: decision events crossed twice, about
 * 4% of the API's thread under load. A SharedArrayBuffer crosses as it is. Nobody writes into a message's bytes.
 */
const sharedCopies = new WeakMap<Uint8Array, Uint8Array>();

function crossingBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength < SHARED_FROM_BYTES || bytes.buffer instanceof SharedArrayBuffer)
    return ownBytes(bytes);
  let shared = sharedCopies.get(bytes);
  if (!shared) {
    shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
    shared.set(bytes);
    sharedCopies.set(bytes, shared);
  }
  return shared;
}

/**
 * Calls between two threads over one message channel (a Worker and its parentPort): each side registers
 * methods the other may call, and calls the other's. A call resolves with the method's result or rejects with
 * its error's message. Messages keep their order on the channel, so a `notify` sent before a call's answer is
 * seen before it.
 *
 * Values cross by structured clone: a Buffer arrives as a plain Uint8Array (`asBuffer` makes it a Buffer
 * again without copying).
 */
export interface Endpoint {
  postMessage(value: unknown): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
}

type Method = (...args: never[]) => unknown;

type Message =
  | { kind: 'call'; id: number; method: string; args: unknown[] }
  | { kind: 'notify'; method: string; args: unknown[] }
  | { kind: 'result'; id: number; value: unknown }
  | { kind: 'error'; id: number; message: string };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class RpcPort {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly methods = new Map<string, Method>();
  private closedWith: Error | undefined;

  constructor(private readonly endpoint: Endpoint) {
    endpoint.on('message', (message) => this.receive(message as Message));
  }

  /** Registers `name` for the other side to call (or to notify). */
  handle<F extends Method>(name: string, method: F): void {
    this.methods.set(name, method);
  }

  call<T>(method: string, ...args: unknown[]): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      try {
        this.endpoint.postMessage({ kind: 'call', id, method, args } satisfies Message);
        this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      } catch (error) {
        reject(error); // arguments that cannot be cloned
      }
    });
  }

  /** A call whose answer nobody waits for. */
  notify(method: string, ...args: unknown[]): void {
    if (!this.closedWith) this.endpoint.postMessage({ kind: 'notify', method, args } satisfies Message);
  }

  /** The other side is gone: every call still waiting fails with `error`, and so does every later one. */
  close(error: Error): void {
    this.closedWith = error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }

  private receive(message: Message): void {
    switch (message.kind) {
      case 'result':
      case 'error': {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.kind === 'result') waiter?.resolve(message.value);
        else waiter?.reject(new Error(message.message));
        return;
      }
      case 'notify':
        void this.invoke(message.method, message.args).catch(() => {});
        return;
      case 'call':
        this.invoke(message.method, message.args).then(
          (value) => this.answer({ kind: 'result', id: message.id, value }),
          (error: unknown) =>
            this.answer({
              kind: 'error',
              id: message.id,
              message: error instanceof Error ? error.message : String(error),
            }),
        );
    }
  }

  private async invoke(name: string, args: unknown[]): Promise<unknown> {
    const method = this.methods.get(name);
    if (!method) throw new Error(`no method "${name}" on this side of the thread bridge`);
    return (method as (...a: unknown[]) => unknown)(...args);
  }

  private answer(message: Message): void {
    if (this.closedWith) return;
    try {
      this.endpoint.postMessage(message);
    } catch (error) {
      // A result that cannot be cloned: the caller gets an error instead of waiting for ever.
      if (message.kind === 'result')
        this.endpoint.postMessage({
          kind: 'error',
          id: message.id,
          message: `the answer could not cross the thread: ${(error as Error).message}`,
        } satisfies Message);
    }
  }
}

/** A Buffer over the same bytes as a Uint8Array that crossed a thread (structured clone drops the Buffer). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Bytes ready to cross a thread: structured clone copies a view's whole ArrayBuffer, and a Buffer is often a
 * small slice of a large one (Node's pool, a file read at once), so a slice is copied into its own first. A
 * view of shared memory (a SharedArrayBuffer) crosses as it is: the other thread sees the same memory.
 */
export function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.buffer instanceof SharedArrayBuffer ||
    (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength)
    ? bytes
    : new Uint8Array(bytes);
}

import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';

const WORKER_URL = new URL('./signing-thread-worker.mjs', import.meta.url);

/**
 * A batch goes over once it holds this many texts, without waiting for the end of the turn: the thread
 * starts on the first ones while the event loop is still deciding the rest (one batch a turn left the two
 * taking turns, and cost a third of the rate). 4, 8 and 16 measured the same.
 */
const MAX_BATCH = 16;

interface Waiter {
  resolve: (signature: string) => void;
  reject: (error: Error) => void;
}

/** A started thread and the batches it owes an answer, by batch number. */
interface Thread {
  worker: Worker;
  inFlight: Map<number, Waiter[]>;
}

type Answer = { batch: number; signatures: string[] } | { batch: number; error: string };

/**
 * Ed25519 signatures made on a thread of their own, a batch at a time: what one turn of the event loop asks
 * for goes over in one message (or one per MAX_BATCH), and comes back in one.
 *
 * Why not node:crypto's callback form, which signs on the libuv thread pool: on the enforce path that costs the
 * event loop a job set-up and a thread wake-up per signature, and measured under load (docs/performance.md)
 * that was a fifth of the event loop's time. One thread signs about 27,000 times a second on this machine,
 * more than one event loop decides.
 *
 * The thread starts on first use and does not keep the process alive while nothing is in flight. If it dies,
 * the signatures in flight fail, and the next one starts a new thread.
 */
export class SigningThread {
  private thread: Thread | undefined;
  private gathering: { texts: string[]; waiters: Waiter[] } | undefined;
  private nextBatch = 0;

  constructor(private readonly key: KeyObject) {}

  /** The base64url Ed25519 signature of the UTF-8 bytes of `text`. */
  sign(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      if (!this.gathering) {
        const gathering: { texts: string[]; waiters: Waiter[] } = { texts: [], waiters: [] };
        this.gathering = gathering;
        setImmediate(() => {
          if (this.gathering === gathering) this.send();
        });
      }
      this.gathering.texts.push(text);
      this.gathering.waiters.push({ resolve, reject });
      if (this.gathering.texts.length >= MAX_BATCH) this.send();
    });
  }

  /** Stops the thread; signatures asked for and not yet made fail. A later `sign` starts a new thread. */
  async close(): Promise<void> {
    const gathered = this.gathering;
    this.gathering = undefined;
    const closed = new Error('the signing thread was closed');
    for (const waiter of gathered?.waiters ?? []) waiter.reject(closed);
    const thread = this.thread;
    this.thread = undefined;
    if (thread) await thread.worker.terminate();
  }

  private send(): void {
    const gathered = this.gathering;
    this.gathering = undefined;
    if (!gathered) return;
    const batch = this.nextBatch++;
    let thread: Thread;
    try {
      thread = this.started();
    } catch (error) {
      for (const waiter of gathered.waiters) waiter.reject(error as Error);
      return;
    }
    thread.inFlight.set(batch, gathered.waiters);
    // Referenced only while it owes answers: a process with nothing else to do still gets its signatures.
    if (thread.inFlight.size === 1) thread.worker.ref();
    thread.worker.postMessage({ batch, texts: gathered.texts });
  }

  private started(): Thread {
    if (this.thread) return this.thread;
    const worker = new Worker(WORKER_URL, { workerData: { key: this.key }, execArgv: [] });
    const thread: Thread = { worker, inFlight: new Map() };
    worker.unref();
    worker.on('message', (answer: Answer) => this.answered(thread, answer));
    worker.on('error', (error) => this.failAll(thread, error));
    worker.on('exit', (code) => this.failAll(thread, new Error(`the signing thread exited (code ${code})`)));
    this.thread = thread;
    return thread;
  }

  private answered(thread: Thread, answer: Answer): void {
    const waiters = thread.inFlight.get(answer.batch);
    thread.inFlight.delete(answer.batch);
    if (thread.inFlight.size === 0) thread.worker.unref();
    if (!waiters) return;
    if ('error' in answer) {
      const error = new Error(`signing failed: ${answer.error}`);
      for (const waiter of waiters) waiter.reject(error);
    } else for (const [i, waiter] of waiters.entries()) waiter.resolve(answer.signatures[i]!);
  }

  /** A thread died (or was closed): what it owed fails; the next batch starts a new thread. */
  private failAll(thread: Thread, error: Error): void {
    if (this.thread === thread) this.thread = undefined;
    for (const waiters of thread.inFlight.values()) for (const waiter of waiters) waiter.reject(error);
    thread.inFlight.clear();
  }
}

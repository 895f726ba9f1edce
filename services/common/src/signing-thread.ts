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
  private worker: Worker | undefined;
  private gathering: { texts: string[]; waiters: Waiter[] } | undefined;
  private readonly inFlight = new Map<number, Waiter[]>();
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

  /** Stops the thread; signatures in flight fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private send(): void {
    const gathered = this.gathering;
    this.gathering = undefined;
    if (!gathered) return;
    const batch = this.nextBatch++;
    let worker: Worker;
    try {
      worker = this.started();
    } catch (error) {
      for (const waiter of gathered.waiters) waiter.reject(error as Error);
      return;
    }
    this.inFlight.set(batch, gathered.waiters);
    // Referenced only while it owes answers: a process with nothing else to do still gets its signatures.
    if (this.inFlight.size === 1) worker.ref();
    worker.postMessage({ batch, texts: gathered.texts });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_URL, { workerData: { key: this.key }, execArgv: [] });
    worker.unref();
    worker.on('message', (answer: Answer) => this.answered(answer));
    worker.on('error', (error) => this.failAll(worker, error));
    worker.on('exit', (code) => this.failAll(worker, new Error(`the signing thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private answered(answer: Answer): void {
    const waiters = this.inFlight.get(answer.batch);
    this.inFlight.delete(answer.batch);
    if (this.inFlight.size === 0) this.worker?.unref();
    if (!waiters) return;
    if ('error' in answer) {
      const error = new Error(`signing failed: ${answer.error}`);
      for (const waiter of waiters) waiter.reject(error);
    } else for (const [i, waiter] of waiters.entries()) waiter.resolve(answer.signatures[i]!);
  }

  private failAll(worker: Worker, error: Error): void {
    if (this.worker === worker) this.worker = undefined;
    for (const waiters of this.inFlight.values()) for (const waiter of waiters) waiter.reject(error);
    this.inFlight.clear();
  }
}

import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ChainFields } from '@thoth/contracts';
import { siblingModule, startPureThread } from '@thoth/platform';
import type { DryRunResult, PortablePolicy } from './policy-dry-run.ts';

/**
 * How long a dry run may take, from the request on (the thread's start included). At the deadline the thread
 * stops between two events and the answer is the replay so far, flagged `truncated`.
 */
export const DRY_RUN_DEADLINE_MS = 10_000;
/** Past the deadline by this much without an answer (a thread that does not stop), the thread is terminated. */
const TERMINATE_GRACE_MS = 2_000;
/**
 * A message to the thread carries rows up to this many characters of payload (or one row, if larger): each
 * message is copied on the event loop, ~1 ms a megabyte, so they stay small.
 */
const CHARACTERS_PER_MESSAGE = 1_000_000;
/** The thread's heap: 20,000 stored decisions and their replay take well under 100 MB. */
const MAX_HEAP_MB = 512;

const BODY = siblingModule(import.meta.url, 'dry-run-thread-body');

/** What the dry-run thread is started with. */
export interface DryRunRequest {
  policy: PortablePolicy;
  samples: number;
  /** Epoch ms: the replay stops at the first event after it. */
  deadlineAt: number;
}

export type DryRunThreadMessage = { kind: 'rows'; rows: ChainFields[] } | { kind: 'end' };
export type DryRunThreadAnswer = { kind: 'result'; result: DryRunResult; truncated: boolean };

export interface DryRunOutcome {
  result: DryRunResult;
  /** The deadline stopped the replay: `result` covers the first `result.evaluated` events only. */
  truncated: boolean;
}

/** The thread did not answer by the deadline plus a grace period, and was terminated. */
export class DryRunTimeoutError extends Error {
  override name = 'DryRunTimeoutError';
}

/**
 * Replays stored decision rows against `policy` on a thread of its own (dry-run-thread-body.ts), so that however
 * heavy the policy, the event loop only copies the rows over, a chunk a turn. One thread per dry run, terminated
 * when it answers: a dry run is rare, and a fresh thread leaves nothing behind (it takes ~1 s to load its
 * modules, inside the deadline).
 */
export function runDryRunThread(
  policy: PortablePolicy,
  rows: readonly ChainFields[],
  options: { samples: number; deadlineMs?: number },
): Promise<DryRunOutcome> {
  const deadlineMs = options.deadlineMs ?? DRY_RUN_DEADLINE_MS;
  const request: DryRunRequest = { policy, samples: options.samples, deadlineAt: Date.now() + deadlineMs };
  const worker = startPureThread(BODY, request, { maxOldGenerationMb: MAX_HEAP_MB });
  let settled = false;
  return new Promise<DryRunOutcome>((resolve, reject) => {
    const finish = (outcome: DryRunOutcome | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(
      () => finish(new DryRunTimeoutError(`the dry run did not stop at its deadline (${deadlineMs} ms)`)),
      deadlineMs + TERMINATE_GRACE_MS,
    );
    worker.on('message', (answer: DryRunThreadAnswer) =>
      finish({ result: answer.result, truncated: answer.truncated }),
    );
    worker.on('error', (error) => finish(new Error(`the dry-run thread failed: ${error.message}`)));
    worker.on('exit', (code) => finish(new Error(`the dry-run thread exited (code ${code})`)));
    void (async () => {
      let at = 0;
      while (at < rows.length && !settled) {
        const chunk: ChainFields[] = [];
        let characters = 0;
        while (at < rows.length && (chunk.length === 0 || characters < CHARACTERS_PER_MESSAGE)) {
          const row = rows[at++]!;
          chunk.push(row);
          characters += row.payload.length;
        }
        worker.postMessage({ kind: 'rows', rows: chunk } satisfies DryRunThreadMessage);
        await nextTurn();
      }
      if (!settled) worker.postMessage({ kind: 'end' } satisfies DryRunThreadMessage);
    })();
  });
}

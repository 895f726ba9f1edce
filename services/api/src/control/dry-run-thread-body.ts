import { parentPort, workerData } from 'node:worker_threads';
import type { DecisionEvent } from '@thoth/contracts';
import { storedRecord } from '@thoth/contracts';
import type { DryRunRequest, DryRunThreadAnswer, DryRunThreadMessage } from './dry-run-thread.ts';
import { compilePortablePolicy, DryRunReplay } from './policy-dry-run.ts';

// The dry-run thread (dry-run-thread.ts): rebuilds each recorded decision from its stored row and replays it,
// chunk by chunk as they arrive, until the last one or the deadline, whichever comes first.

const port = parentPort;
if (port === null) throw new Error('dry-run-thread-body.ts runs on a worker thread only');
const request = (workerData as { data: DryRunRequest }).data;
const replay = new DryRunReplay(compilePortablePolicy(request.policy), request.samples);
let answered = false;

function answer(truncated: boolean): void {
  answered = true;
  port?.postMessage({ kind: 'result', result: replay.finish(), truncated } satisfies DryRunThreadAnswer);
}

port.on('message', (message: DryRunThreadMessage) => {
  if (answered) return;
  if (message.kind === 'end') return answer(false);
  for (const fields of message.rows) {
    // Checked between events: an event costs at most its rules' cost limits (a few ms each).
    if (Date.now() > request.deadlineAt) return answer(true);
    const record = storedRecord(fields);
    if (record) replay.add(record as unknown as DecisionEvent);
  }
});

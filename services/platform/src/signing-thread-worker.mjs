// The body of SigningThread (signing-thread.ts): signs batches of texts with the Ed25519 key it was started
// with, in order, and answers each batch with its signatures (base64url). Plain JavaScript, so the thread
// starts without the TypeScript loader.
import { sign } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

const { key } = workerData;

parentPort.on('message', ({ batch, texts }) => {
  try {
    const signatures = texts.map((text) => sign(null, Buffer.from(text), key).toString('base64url'));
    parentPort.postMessage({ batch, signatures });
  } catch (error) {
    parentPort.postMessage({ batch, error: error instanceof Error ? error.message : String(error) });
  }
});

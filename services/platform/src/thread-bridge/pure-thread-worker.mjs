// The body of a thread started by startPureThread (pure-thread.ts): loads the TypeScript module named in
// workerData.module, refusing to load chDB on the way. chDB must stay on the main thread (it crashes the process
// when a thread that loaded it exits, and such a thread is terminated at its deadline), so loading it fails at
// resolution, before anything is loaded, naming what imported it. The store module itself may load: it imports
// chDB only when an embedded store opens.
//
// Plain JavaScript, so that it runs without the TypeScript loader; it then registers tsx for this thread alone
// (the thread starts with no execArgv: the parent's `--import tsx`, when there is one, is not inherited).
import { register } from 'node:module';
import { workerData } from 'node:worker_threads';
import { register as registerTsx } from 'tsx/esm/api';

// Resolution hooks run last-registered first: this guard sees every resolution tsx makes, with its outcome.
const guard = `
const FORBIDDEN = /\\/node_modules\\/(@chdb|chdb)\\//;
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (FORBIDDEN.test(resolved.url))
    throw new Error('a pure thread may not load ' + resolved.url + ' (imported by ' + context.parentURL + ')');
  return resolved;
}`;
registerTsx();
register(`data:text/javascript,${encodeURIComponent(guard)}`);

await import(workerData.module);

// The body of a thread started by startPureThread (pure-thread.ts): loads the module named in
// workerData.module, refusing to load chDB on the way. chDB must stay on the main thread (it crashes the process
// when a thread that loaded it exits, and such a thread is terminated at its deadline), so loading it fails at
// resolution, before anything is loaded, naming what imported it. The store module itself may load: it imports
// chDB only when an embedded store opens.
//
// Plain JavaScript. Compiled Thoth (dist/) needs nothing more; when the module is TypeScript (tests and benchmarks
// run the sources), it registers tsx for this thread alone (the thread starts with no execArgv: the parent's
// `--import tsx`, when there is one, is not inherited) and resolves Thoth's packages to their sources, as the
// parent does (the `thoth-source` export condition).
import { register } from 'node:module';
import { workerData } from 'node:worker_threads';

const typescript = workerData.module.endsWith('.ts');

// Resolution hooks run last-registered first: this guard sees every resolution tsx makes, with its outcome.
const guard = `
const FORBIDDEN = /\\/node_modules\\/(@chdb|chdb)\\//;
const SOURCES = ${typescript};
export async function resolve(specifier, context, next) {
  const conditions = SOURCES ? [...context.conditions, 'thoth-source'] : context.conditions;
  const resolved = await next(specifier, { ...context, conditions });
  if (FORBIDDEN.test(resolved.url))
    throw new Error('a pure thread may not load ' + resolved.url + ' (imported by ' + context.parentURL + ')');
  return resolved;
}`;
if (typescript) (await import('tsx/esm/api')).register();
register(`data:text/javascript,${encodeURIComponent(guard)}`);

await import(workerData.module);

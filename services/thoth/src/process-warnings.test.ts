import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'thoth-warnings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A module at kafkajs's request-queue path that arms a negative timer, as kafkajs 2.2.4 does. */
function fakeRequestQueue(): string {
  const path = join(dir, 'node_modules/kafkajs/src/network/requestQueue/index.mjs');
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, 'export function schedule() { setTimeout(() => {}, -1 - Date.now()); }\n');
  return path;
}

/** stderr of a process that arms a negative timer from kafkajs's request queue or from elsewhere (Node warns
 * about the first negative timer of a process only), then raises another warning. */
function stderrOf(quiet: boolean, from: 'kafkajs' | 'elsewhere'): string {
  const code = `
    import { quietKnownWarnings } from ${JSON.stringify(join(import.meta.dirname, 'process-warnings.ts'))};
    import { schedule } from ${JSON.stringify(fakeRequestQueue())};
    if (${quiet}) quietKnownWarnings();
    if (${from === 'kafkajs'}) schedule();
    else setTimeout(() => {}, -5);
    process.emitWarning('something else', 'ThothProbeWarning');`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return child.stderr;
}

describe('quietKnownWarnings', () => {
  it("drops only kafkajs's negative-timeout warning and prints every other warning as Node does", () => {
    // Node (≥ 22, what Thoth runs on) warns on kafkajs's timer: that is what is dropped.
    expect(stderrOf(false, 'kafkajs')).toContain('TimeoutNegativeWarning');
    const quiet = stderrOf(true, 'kafkajs');
    expect(quiet).not.toContain('TimeoutNegativeWarning');
    expect(quiet).toContain('ThothProbeWarning: something else');
    expect(stderrOf(true, 'elsewhere')).toContain('TimeoutNegativeWarning: -5 is a negative number');
  });
});

import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedThoth, startEmbeddedThoth } from './support/embedded-thoth.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');
let thoth: EmbeddedThoth;

beforeAll(async () => {
  thoth = await startEmbeddedThoth('rules: []\n');
});

afterAll(async () => {
  await thoth?.dispose();
});

/** Runs an example the way a user does (its own process, configured by environment only). */
async function runExample(file: string): Promise<string> {
  // thoth-source: '@thoth/sdk' resolves to src/ in the repository (the package's exports point at dist/).
  const args = ['--conditions=thoth-source', '--import', 'tsx', `sdk/typescript/examples/${file}`];
  const { stdout } = await run(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      THOTH_API_URL: thoth.url,
      THOTH_API_KEY: thoth.agentKey,
      ANTHROPIC_BASE_URL: '',
      OPENAI_BASE_URL: '',
    },
    timeout: 30_000,
  });
  return stdout;
}

const SCOPE_BLOCK = /submit_payment.*not in the approved scope/;

describe('examples against embedded Thoth', () => {
  it('quickstart: search_docs runs, submit_payment is blocked with a violation id', async () => {
    const lines = (await runExample('quickstart.ts')).trim().split('\n');
    expect(lines[0]).toBe('Found 3 docs matching: quarterly report');
    expect(lines[1]).toMatch(/^Blocked: .*not in the approved scope/);
    expect(lines[2]).toMatch(/^Violation ID: \w{10,}$/);
  });

  it('Anthropic tool_use loop with @anthropic-ai/sdk', async () => {
    const out = await runExample('anthropic-tool-use.ts');
    expect(out).toContain('tool search_docs: Found 3 docs matching: quarterly report');
    expect(out).toMatch(SCOPE_BLOCK);
    expect(out).toContain('Claude: ok: Found 3 docs matching: quarterly report');
  });

  it('OpenAI function-calling loop with openai', async () => {
    const out = await runExample('openai-function-calling.ts');
    expect(out).toContain('tool search_docs: Found 3 docs matching: quarterly report');
    expect(out).toMatch(SCOPE_BLOCK);
    expect(out).toContain('GPT: Found 3 docs matching: quarterly report');
  });
});

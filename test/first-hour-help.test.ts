import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Issue 26: `--help` on every script and every CLI command prints usage and exits 0. */
const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'services/thoth/bin/thoth.mjs');

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(command, args, { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) =>
      done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The commands the CLI dispatches (cli.ts `case '…'` and the two handled before its switch). */
function dispatchedCommands(): string[] {
  const source = readFileSync(join(ROOT, 'services/thoth/src/cli/cli.ts'), 'utf8');
  const cases = [...source.matchAll(/^ {6}case '([a-z-]+)':/gm)].map((m) => m[1]!);
  return [...new Set(['start', 'mcp', ...cases])];
}

describe('--help everywhere', () => {
  it('`thoth --help` lists every command, and each command’s --help exits 0 with its usage', async () => {
    const help = await run(process.execPath, [BIN, '--help']);
    expect(help.code).toBe(0);
    const commands = dispatchedCommands();
    expect(commands).toEqual(expect.arrayContaining(['tenants', 'keys', 'policies', 'verify', 'tail']));
    for (const command of commands) expect(help.stdout).toMatch(new RegExp(`^ {2}${command}\\b`, 'm'));

    const invocations = [
      ...commands.map((c) => [c, '--help']),
      ['keys', 'create', '--help'],
      ['policies', 'test', '-h'],
      ['mcp', 'proxy', '--help'],
      ['help', 'keys'],
    ];
    const results = await Promise.all(invocations.map((args) => run(process.execPath, [BIN, ...args])));
    results.forEach((result, i) => {
      expect(result.code, invocations[i]!.join(' ')).toBe(0);
      // `mcp proxy` prints its help on stderr on purpose: in stdio mode its stdout belongs to MCP.
      expect(result.stdout + result.stderr, invocations[i]!.join(' ')).toMatch(/usage/i);
    });
    expect(results[invocations.findIndex((a) => a[0] === 'keys')]!.stdout).toMatch(/^Usage: thoth keys/);
  });

  it('every script answers --help with its usage and exit code 0, before it starts anything', async () => {
    const scripts = readdirSync(join(ROOT, 'scripts')).filter(
      (f) =>
        (f.endsWith('.mjs') || (f.startsWith('bench-') && f.endsWith('.ts'))) && f !== 'bench-support.ts',
    );
    expect(scripts).toEqual(
      expect.arrayContaining(['verify-bundle.mjs', 'bench-enforce.ts', 'kafka-compat.mjs']),
    );
    const runs = [
      ...scripts.map((f) =>
        f.endsWith('.mjs')
          ? { name: f, run: () => run(process.execPath, [join('scripts', f), '--help']) }
          : {
              name: f,
              run: () =>
                run(process.execPath, [
                  '--conditions=thoth-source',
                  '--import',
                  'tsx',
                  join('scripts', f),
                  '--help',
                ]),
            },
      ),
      { name: 'kafka.sh', run: () => run('bash', ['scripts/kafka.sh', '--help']) },
    ];
    // Two at a time: each tsx start costs about a second of one core.
    for (let i = 0; i < runs.length; i += 2) {
      const batch = runs.slice(i, i + 2);
      const results = await Promise.all(batch.map((r) => r.run()));
      results.forEach((result, j) => {
        expect(result.code, batch[j]!.name).toBe(0);
        expect(result.stdout.trim().length, batch[j]!.name).toBeGreaterThan(40);
        expect(result.stderr, batch[j]!.name).not.toMatch(/at .*\.m?[jt]s:\d+/); // no stack trace
      });
    }
  }, 90_000);
});

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, isListening, waitFor } from './helpers.ts';

/**
 * README.md's quickstart, followed literally by a new user on a fresh data directory: `npm start`, then the
 * shell blocks of "First calls" and "Control plane and security" as the README holds them (read from the README
 * at test time, so the README and this test cannot drift). Two substitutions only, because the test must not
 * collide with a Thoth on this machine: the README's `http://127.0.0.1:8080` becomes a free port (THOTH_URL for
 * the CLI) and its `.thoth/` data directory a fresh temporary one.
 */
const ROOT = resolve(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const dataDir = mkdtempSync(join(tmpdir(), 'thoth-first-hour-'));
let port = 0;
let url = '';
let npm: ChildProcess;
let output = '';

/** The fenced ```bash blocks of the README section under `heading`. */
function bashBlocks(heading: string): string[] {
  const start = README.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no "## ${heading}" section`);
  const end = README.indexOf('\n## ', start + 4);
  const section = README.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The README's text with this test's port and data directory, as a new user's shell would run it. */
function localized(script: string): string {
  return script.replaceAll('http://127.0.0.1:8080', url).replaceAll('.thoth/', `${dataDir}/`);
}

function bash(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      'bash',
      ['-e', '-o', 'pipefail', '-c', script],
      {
        cwd: ROOT,
        env: { ...process.env, THOTH_URL: url, THOTH_ADMIN_TOKEN: '', THOTH_API_KEY: '' },
        timeout: 60_000,
      },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  // README: "npm ci && npm start" — installed already; `npm start` as written.
  expect(bashBlocks('Architecture')).toEqual([]); // the architecture diagram is not a shell block
  expect(README.split('\n').find((line) => line.includes('npm start'))).toMatch(/^npm ci && npm start/);
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  npm = spawn('npm', ['start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      THOTH_DATA_DIR: dataDir,
      THOTH_ADMIN_TOKEN: '',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  npm.stdout?.on('data', (d) => (output += d));
  npm.stderr?.on('data', (d) => (output += d));
  await waitFor(
    'npm start',
    async () => (await fetch(`${url}/healthz`).catch(() => null))?.status === 200,
    60_000,
  );
}, 90_000);

afterAll(() => {
  if (npm?.pid && npm.exitCode === null) npm.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('README quickstart, literally', () => {
  let key = '';

  it('prints a start-up summary naming what runs where', () => {
    expect(output).toContain('Thoth is running');
    expect(output).toMatch(new RegExp(`API\\s+${url}`));
    expect(output).toMatch(/policy\s+built-in default/);
    expect(output).toContain(`data         ${dataDir}`);
    expect(output).toContain(`${dataDir}/admin-token`);
  });

  it('"First calls": an API key, then the BLOCK the README shows', async () => {
    const [block] = bashBlocks('First calls');
    expect(block).toContain('/v1/enforce');
    const run = await bash(`${localized(block!)}\nprintf '\\nKEY=%s\\n' "$KEY"`);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    key = /^KEY=(\S+)$/m.exec(run.stdout)?.[1] ?? '';
    expect(key).toMatch(/^thoth_/);
    const answer = JSON.parse(run.stdout.split('\n')[0]!) as Record<string, unknown>;
    // The README's "# →" comment says what comes back: check the same fields.
    const promised = block!.split('# →')[1]!;
    expect(answer.decision).toBe(/"decision":"(\w+)"/.exec(promised)?.[1]);
    expect(answer.decision_reason_code).toBe(/"decision_reason_code":"(\w+)"/.exec(promised)?.[1]);
    expect(answer.reason).toBe(/"reason":"([^"]+)"/.exec(promised)?.[1]);
    expect(answer.receipt).toBeTypeOf('object');
  });

  it('"Control plane and security": the CLI block, then a dry run of the active policy finds 0 differences', async () => {
    const [block] = bashBlocks('Control plane and security');
    const run = await bash(localized(block!));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/API key \S+ \(execute, write\) for tenant acme-corp/);
    expect(run.stdout).toMatch(/would have blocked \d+ calls/);
    expect(run.stdout).toMatch(/policy version (\d+) applied to tenant acme-corp \(4 rules\)/);

    // The same shell as the README block: the admin token is exported.
    const listed = await bash(
      `export THOTH_ADMIN_TOKEN=$(cat ${dataDir}/admin-token)\nnpx thoth policies list --tenant acme-corp`,
    );
    expect(listed.stdout).toMatch(/in force: version \d+ from the API \(policies apply\), 4 rules/);
    expect(listed.stdout).toContain('block-large-payment');

    // Traffic under the applied policy: in scope, out of scope (twice: session risk grows), a large payment,
    // a wire transfer (STEP_UP), observe mode.
    const since = new Date().toISOString();
    const enforce = async (body: Record<string, unknown>) => {
      const response = await fetch(`${url}/v1/enforce`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          agent_id: 'invoice-processor-v2',
          tenant_id: 'acme-corp',
          session_id: 's-dry',
          ...body,
        }),
      });
      return ((await response.json()) as { decision: string }).decision;
    };
    const decisions = [
      await enforce({ tool_name: 'search_docs', approved_scope: ['search_docs'] }),
      await enforce({
        tool_name: 'submit_payment',
        approved_scope: ['search_docs'],
        tool_args: { amount: 5 },
      }),
      await enforce({
        tool_name: 'submit_payment',
        approved_scope: ['search_docs'],
        tool_args: { amount: 9 },
      }),
      await enforce({ tool_name: 'submit_payment', tool_args: { amount: 50_000 } }),
      await enforce({ tool_name: 'wire_transfer' }),
      await enforce({ tool_name: 'search_docs', enforcement_mode: 'observe' }),
    ];
    expect(decisions).toEqual(['ALLOW', 'BLOCK', 'BLOCK', 'BLOCK', 'STEP_UP', 'ALLOW']);
    let replay = { code: 1, stdout: '', stderr: '' };
    await waitFor(
      'the decisions in the trail',
      async () => {
        replay = await bash(
          `export THOTH_ADMIN_TOKEN=$(cat ${dataDir}/admin-token)\n` +
            `npx thoth policies test --tenant acme-corp -f examples/policy.yaml --from ${since}`,
        );
        return /dry run over 6 recorded decisions/.test(replay.stdout);
      },
      30_000,
    );
    expect(replay.stdout).toMatch(/; 0 decided differently than recorded/);
    expect(replay.stdout).not.toMatch(/could not replay/);
  });

  it('the feed finds an SDK’s blocked call by reason_code, with ISO and relative times', async () => {
    // What the SDKs send when they stop a call (sdk/typescript telemetry/events.ts).
    const ingest = await fetch(`${url}/v1/events/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        events: [
          {
            eventId: 'acme-corp:sdk-block-1',
            eventType: 'TOOL_CALL_BLOCK',
            agentId: 'sdk-agent',
            tenantId: 'acme-corp',
            sessionId: 'sdk-session',
            toolName: 'submit_payment',
            occurredAt: new Date().toISOString(),
            content: 'submit_payment blocked: not in the approved scope',
            metadata: {
              event_phase: 'block',
              authorization_decision: 'BLOCK',
              decision_reason_code: 'policy_scope_violation',
            },
          },
        ],
      }),
    });
    expect(ingest.status).toBe(202);
    const feed = async (query: string) => {
      const response = await fetch(`${url}/acme-corp/thoth/governance/feed?${query}`, {
        headers: { authorization: `Bearer ${key}` },
      });
      return {
        status: response.status,
        body: (await response.json()) as { data: Array<Record<string, unknown>> },
      };
    };
    await waitFor(
      'the blocked call in the feed',
      async () =>
        (await feed('agent_id=sdk-agent&reason_code=policy_scope_violation&from=-1h&to=now')).body.data
          .length === 1,
      20_000,
    );
    const found = await feed('agent_id=sdk-agent&reason_code=policy_scope_violation&decision=block&from=-7d');
    expect(found.body.data[0]).toMatchObject({
      event_type: 'TOOL_CALL_BLOCK',
      reason_code: 'policy_scope_violation',
      decision: 'BLOCK',
    });
    const iso = await feed(`agent_id=sdk-agent&from=${new Date(Date.now() - 3_600_000).toISOString()}`);
    expect(iso.body.data).toHaveLength(1);
    const refused = await feed('from=yesterday');
    expect(refused.status).toBe(400);
  });

  it('`thoth siem backfill` sends a new sink the trail from a point in time', async () => {
    const siemDir = join(dataDir, 'backfill-siem');
    const sinksFile = join(dataDir, 'backfill-sinks.yaml');
    writeFileSync(
      sinksFile,
      `sinks:\n  - id: late-sink\n    tenant: acme-corp\n    type: file\n    format: ocsf\n    dir: ${siemDir}\n`,
    );
    const run = await bash(
      `THOTH_API_KEY=${key} npx thoth siem backfill --sink late-sink --from -1h --config ${sinksFile}`,
    );
    expect(run.code, run.stderr).toBe(0);
    const delivered = Number(/backfilled sink late-sink: (\d+) delivered/.exec(run.stdout)?.[1]);
    expect(delivered).toBeGreaterThanOrEqual(8); // 7 decisions, the SDK's blocked call, admin changes
    const lines = readdirSync(siemDir)
      .flatMap((f) => readFileSync(join(siemDir, f), 'utf8').split('\n'))
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(delivered);
    expect(JSON.stringify(lines)).toContain('policy_scope_violation');
    const wrong = await bash(
      `THOTH_API_KEY=${key} npx thoth siem backfill --sink late-sink --from yesterday --config ${sinksFile}`,
    );
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--from: expected an ISO 8601 time .* or a relative one/);
  });

  it('configuration errors name the variable and the expected form, ports in use included', async () => {
    const start = (env: Record<string, string>) =>
      new Promise<{ code: number | null; stderr: string }>((done) => {
        const child = spawn(process.execPath, ['services/thoth/dist/main.js'], {
          cwd: ROOT,
          env: {
            ...process.env,
            THOTH_DATA_DIR: mkdtempSync(join(dataDir, 'other-')),
            LOG_LEVEL: 'silent',
            ...env,
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr?.on('data', (d) => (stderr += d));
        child.on('exit', (code) => done({ code, stderr }));
      });
    const other = await freePort();
    const [apiPort, metricsPort, notANumber] = await Promise.all([
      start({ PORT: String(port) }),
      start({
        PORT: String(other),
        THOTH_METRICS_PORT: String(port),
      }),
      start({ PORT: 'abc' }),
    ]);
    expect(apiPort.stderr).toContain(`PORT: 127.0.0.1:${port} is already in use`);
    expect(apiPort.code).toBe(1);
    expect(metricsPort.stderr).toContain(`THOTH_METRICS_PORT: 127.0.0.1:${port} is already in use`);
    expect(notANumber.stderr).toContain('PORT: expected a port number from 0 to 65535 (got "abc")');
    expect(notANumber.code).toBe(2);
  }, 60_000);

  it('SIGTERM to `npm start` stops the process that listens', async () => {
    const node = execFileSync('pgrep', ['-P', String(npm.pid)], { encoding: 'utf8' }).trim();
    expect(node).toMatch(/^\d+$/);
    const exited = new Promise<number | null>((done) => npm.on('exit', (code) => done(code)));
    npm.kill('SIGTERM');
    expect(await exited).toBe(0);
    await waitFor('the port closed', async () => !(await isListening(port)), 30_000);
    expect(() => process.kill(Number(node), 0)).toThrow();
  });
});

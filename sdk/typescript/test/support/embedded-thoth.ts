import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../../../test/helpers.ts';

/**
 * Embedded Thoth (`npm start`'s command) as a child process on a free loopback port, with a fresh data
 * directory and the given policy — what the SDK talks to in tests, examples and the bench.
 */

const ROOT = resolve(import.meta.dirname, '../../../..');
export const TENANT = 'acme-corp';
const ADMIN_TOKEN = 'sdk-test-admin-token-0123456789';

export interface EmbeddedThoth {
  url: string;
  port: number;
  /** execute + write + read: what an agent (and the feed checks) use. */
  agentKey: string;
  /** read + admin: a person approving step-ups. */
  approverKey: string;
  /** The child's output so far (for diagnosing a failed start). */
  output(): string;
  /** SIGTERM, then wait for the drained exit. */
  stop(): Promise<void>;
  /** Stop and delete the data directory. */
  dispose(): Promise<void>;
}

export async function startEmbeddedThoth(
  policyYaml: string,
  extraEnv: Record<string, string> = {},
): Promise<EmbeddedThoth> {
  const dataDir = mkdtempSync(join(tmpdir(), 'thoth-sdk-'));
  const policyFile = join(dataDir, 'policy.yaml');
  writeFileSync(policyFile, policyYaml);
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['services/thoth/dist/main.js'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      THOTH_DATA_DIR: dataDir,
      THOTH_MODE: 'embedded',
      LOG_LEVEL: 'warn',
      THOTH_ADMIN_TOKEN: ADMIN_TOKEN,
      THOTH_POLICY_FILE: policyFile,
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  // 'close': exited and its output read to the end (a failed start's reason is its last line).
  const exited = new Promise<void>((res) => child.once('close', () => res()));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await healthy(url, 30_000, () => child.exitCode !== null);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`${(error as Error).message}\n${output}`);
  }
  const agentKey = await createKey(url, 'sdk-agent', ['execute', 'write', 'read']);
  const approverKey = await createKey(url, 'sdk-approver', ['read', 'admin']);
  return {
    url,
    port,
    agentKey,
    approverKey,
    output: () => output,
    stop,
    dispose: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function healthy(url: string, timeoutMs: number, died: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (died()) throw new Error('embedded Thoth exited during start');
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`embedded Thoth: /healthz did not answer 200 within ${timeoutMs} ms`);
}

async function createKey(url: string, name: string, permissions: string[]): Promise<string> {
  const response = await fetch(`${url}/${TENANT}/thoth/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, permissions }),
  });
  if (response.status !== 201)
    throw new Error(`creating an API key: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { api_key: string }).api_key;
}

interface Approval {
  id: string;
  session_id: string;
  tool_name: string;
}

/**
 * A person approving or denying the pending step-up of `toolName` in `sessionId` (the SDK is still
 * waiting inside the tool call, so the test finds the approval by session rather than violation id).
 */
export async function resolveApproval(
  thoth: EmbeddedThoth,
  sessionId: string,
  toolName: string,
  decision: 'approve' | 'deny',
): Promise<void> {
  const headers = { authorization: `Bearer ${thoth.approverKey}`, 'content-type': 'application/json' };
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const list = await fetch(`${thoth.url}/${TENANT}/thoth/approvals?status=pending&per_page=500`, {
      headers,
    });
    const { data } = (await list.json()) as { data: Approval[] };
    const approval = data.find((item) => item.session_id === sessionId && item.tool_name === toolName);
    if (approval) {
      const resolved = await fetch(`${thoth.url}/${TENANT}/thoth/approvals/${approval.id}/resolve`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ decision, comment: `sdk test: ${decision}` }),
      });
      if (resolved.status !== 200)
        throw new Error(`resolve: HTTP ${resolved.status} ${await resolved.text()}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no pending approval of ${toolName} in session ${sessionId}`);
}

export interface FeedEvent {
  event_type: string;
  tool_name: string;
  session_id: string;
  occurred_at: string;
}

/** A session's events in arrival order (the agent's evidence chain: a fast call's PRE and POST share a ms). */
export async function feedOfSession(thoth: EmbeddedThoth, sessionId: string): Promise<FeedEvent[]> {
  const query = new URLSearchParams({
    session_id: sessionId,
    sort_by: 'chain_index',
    sort_dir: 'asc',
    per_page: '500',
  });
  const response = await fetch(`${thoth.url}/${TENANT}/thoth/governance/feed?${query}`, {
    headers: { authorization: `Bearer ${thoth.agentKey}` },
  });
  if (response.status !== 200) throw new Error(`feed: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { data: FeedEvent[] }).data;
}

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, waitForHealthy } from './bench-support.ts';

const ROOT = resolve(import.meta.dirname, '..');

/** The OPA release bench:enforce compares against, built from the Go module proxy. */
export const OPA_MODULE = 'github.com/open-policy-agent/opa@v1.22.4';
const OPA_BIN_DIR = join(ROOT, '.cache/opa/bin');

/**
 * The decision of bench:enforce's load (scripts/enforce-load.ts) in Rego: the scope check and the three rules of
 * its POLICY (payment limit → BLOCK, personal data → a flag with risk points, a runaway session → DEFER), with
 * the risk points summed like Thoth's rules. The query answers `{decision, reasons, risk_points}`.
 */
export const REGO = `package thoth

import rego.v1

in_scope if input.tool_name in input.approved_scope

blocks contains "out_of_scope" if not in_scope

blocks contains "payment-limit" if {
  input.tool_name == "submit_payment"
  input.tool_args.kwargs.amount > 10000
}

flags contains "pii-access" if input.data_classification == "pii"

defers contains "runaway-session" if count(input.session_tool_calls) > 1000000

points := sum([p | some r in blocks; p := 40]) + sum([p | some r in flags; p := 10])

decision := "BLOCK" if count(blocks) > 0

decision := "DEFER" if {
  count(blocks) == 0
  count(defers) > 0
}

decision := "ALLOW" if {
  count(blocks) == 0
  count(defers) == 0
}

result := {"decision": decision, "reasons": (blocks | flags) | defers, "risk_points": points}
`;

/** Where the OPA binary is, built (once, into .cache/opa/bin) when Go is installed; or why there is none. */
export function opaBinary(progress: (line: string) => void): { path: string } | { missing: string } {
  const cached = join(OPA_BIN_DIR, 'opa');
  if (existsSync(cached)) return { path: cached };
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    return {
      missing: `Go is not installed, so OPA (${OPA_MODULE}) cannot be built; the OPA comparison is skipped`,
    };
  }
  progress(`building OPA (go install ${OPA_MODULE}) into .cache/opa/bin — about a minute, once`);
  mkdirSync(OPA_BIN_DIR, { recursive: true });
  try {
    execFileSync('go', ['install', OPA_MODULE], {
      env: { ...process.env, GOBIN: OPA_BIN_DIR, GOFLAGS: '-trimpath' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  } catch (error) {
    return {
      missing: `go install ${OPA_MODULE} failed (${(error as Error).message}); the OPA comparison is skipped`,
    };
  }
  return { path: cached };
}

/** OPA's REST server with REGO loaded, on a free loopback port; `path` is the query route wrk POSTs to. */
export async function startOpa(
  binary: string,
  workDir: string,
): Promise<{ child: ChildProcess; port: number; path: string }> {
  const port = await freePort();
  const policy = join(workDir, 'thoth.rego');
  writeFileSync(policy, REGO);
  const child = spawn(
    binary,
    ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', policy],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  await waitForHealthy(`http://127.0.0.1:${port}/health`, child, 'opa', 30_000);
  return { child, port, path: '/v1/data/thoth/result' };
}

import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, instrument, type ThothOptions, ThothPolicyViolation, wrapTool } from '../src/index.ts';
import {
  type EmbeddedThoth,
  feedOfSession,
  resolveApproval,
  startEmbeddedThoth,
  TENANT,
} from './support/embedded-thoth.ts';

const POLICY = `
rules:
  - id: block-large-payment
    condition: tool == "submit_payment" && args.amount > 10000
    effect: BLOCK
    reason: payments above 10,000 are blocked
    reason_code: payment_limit
  - id: redact-card
    tools: [charge_card]
    condition: has(args.card_number)
    effect: MODIFY
    reason: card numbers are redacted
    modify: { redact: [card_number] }
  - id: hide-note
    tools: [send_note]
    condition: "true"
    effect: MODIFY
    reason: notes are not sent verbatim
    modify: { set: { arg1: "[hidden]" } }
  - id: defer-exports
    condition: tool == "export_records"
    effect: DEFER
    reason: bulk exports run outside business hours
    defer_timeout_seconds: 45
  - id: approve-wires
    condition: tool == "wire_transfer"
    effect: STEP_UP
    reason: wire transfers need a human approval
    step_up_timeout_seconds: 30
  - id: expiring-approval
    condition: tool == "urgent_wire"
    effect: STEP_UP
    reason: urgent wires need a human approval
    step_up_timeout_seconds: 1
`;

let thoth: EmbeddedThoth;
const warnings: string[] = [];

beforeAll(async () => {
  thoth = await startEmbeddedThoth(POLICY);
});

afterAll(async () => {
  await thoth?.dispose();
});

function options(overrides: Partial<ThothOptions> = {}): ThothOptions {
  return {
    agentId: 'sdk-test-agent',
    tenantId: TENANT,
    apiUrl: thoth.url,
    apiKey: thoth.agentKey,
    approvedScope: [],
    stepUpPollIntervalMs: 100,
    logger: { warn: (message) => warnings.push(message) },
    ...overrides,
  };
}

async function violationOf(promise: Promise<unknown>): Promise<ThothPolicyViolation> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ThothPolicyViolation);
  return error as ThothPolicyViolation;
}

describe('decisions from the real enforcer', () => {
  it('ALLOW runs the tool with its arguments', async () => {
    const search = wrapTool('search_docs', (query: string) => `Found 3 docs matching: ${query}`, options());
    await expect(search('quarterly report')).resolves.toBe('Found 3 docs matching: quarterly report');
  });

  it('BLOCK throws ThothPolicyViolation and does not run the tool', async () => {
    let ran = false;
    const pay = wrapTool(
      'submit_payment',
      (_payment: { invoice: string; amount: number }) => {
        ran = true;
      },
      options(),
    );
    const violation = await violationOf(pay({ invoice: 'INV-9', amount: 50_000 }));
    expect(violation).toMatchObject({
      decision: 'BLOCK',
      toolName: 'submit_payment',
      decisionReasonCode: 'payment_limit',
      reason: 'payments above 10,000 are blocked',
    });
    expect(violation.violationId).toBeTruthy();
    expect(ran).toBe(false);
  });

  it('BLOCK on an out-of-scope tool (progressive)', async () => {
    const agent = instrument(
      { tools: [{ name: 'delete_records', run: () => 'deleted' }] as const },
      options({ approvedScope: ['search_docs'] }),
    );
    const violation = await violationOf(agent.tools[0].run());
    expect(violation.decisionReasonCode).toBe('policy_scope_violation');
  });

  it('MODIFY runs the tool with the modified arguments (dict and positional shapes)', async () => {
    const charge = wrapTool(
      'charge_card',
      (card: { card_number: string; amount: number }) => card,
      options(),
    );
    await expect(charge({ card_number: '4111111111111111', amount: 5 })).resolves.toEqual({
      card_number: '[REDACTED]',
      amount: 5,
    });
    const note = wrapTool('send_note', (to: string, body: string) => `${to}: ${body}`, options());
    await expect(note('bob', 'the secret')).resolves.toBe('bob: [hidden]');
  });

  it('DEFER throws with the retry delay in the reason', async () => {
    const exportRecords = wrapTool('export_records', () => 'exported', options());
    const violation = await violationOf(exportRecords());
    expect(violation.decision).toBe('DEFER');
    expect(violation.retryAfterSeconds).toBe(45);
    expect(violation.reason).toContain('retry in 45 s');
    expect(violation.violationId).toBeTruthy();
  });
});

describe('step-up', () => {
  it('runs the tool once a person approves', async () => {
    const sessionId = randomUUID();
    const wire = wrapTool('wire_transfer', (amount: number) => `sent ${amount}`, options({ sessionId }));
    const call = wire(700);
    await resolveApproval(thoth, sessionId, 'wire_transfer', 'approve');
    await expect(call).resolves.toBe('sent 700');
  });

  it('throws when a person denies', async () => {
    const sessionId = randomUUID();
    let ran = false;
    const wire = wrapTool(
      'wire_transfer',
      () => {
        ran = true;
      },
      options({ sessionId }),
    );
    const call = violationOf(wire());
    await resolveApproval(thoth, sessionId, 'wire_transfer', 'deny');
    const violation = await call;
    expect(violation).toMatchObject({ decision: 'STEP_UP', decisionReasonCode: 'step_up_denied' });
    expect(ran).toBe(false);
  });

  it('throws when the hold expires on the server', async () => {
    const wire = wrapTool('urgent_wire', () => 'sent', options());
    const violation = await violationOf(wire());
    expect(violation.decision).toBe('STEP_UP');
    expect(violation.reason).toMatch(/expired/);
  });

  it("throws when the SDK's own step-up timeout passes first", async () => {
    const wire = wrapTool('wire_transfer', () => 'sent', options({ stepUpTimeoutMs: 300 }));
    const violation = await violationOf(wire());
    expect(violation).toMatchObject({ decision: 'STEP_UP', decisionReasonCode: 'step_up_timeout' });
  });
});

describe('telemetry', () => {
  it('PRE and POST events reach the audit trail in order', async () => {
    const sessionId = randomUUID();
    const agent = instrument(
      {
        tools: {
          search_docs: (query: string) => `Found 3 docs matching: ${query}`,
          read_file: { run: (path: string) => `contents of ${path}` },
        },
      },
      options({ sessionId }),
    );
    await agent.tools.search_docs('q');
    await agent.tools.read_file.run('/tmp/x');
    const stats = await flush();
    expect(stats.pending).toBe(0);
    let tools: string[] = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const feed = await feedOfSession(thoth, sessionId);
      tools = feed
        .filter((e) => e.event_type.startsWith('TOOL_CALL_'))
        .map((e) => `${e.event_type} ${e.tool_name}`);
      if (tools.length >= 4) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(tools).toEqual([
      'TOOL_CALL_PRE search_docs',
      'TOOL_CALL_POST search_docs',
      'TOOL_CALL_PRE read_file',
      'TOOL_CALL_POST read_file',
    ]);
  });
});

describe('when the enforcer cannot answer', () => {
  it('a wrong key (401) blocks even when failing open', async () => {
    const search = wrapTool(
      'search_docs',
      () => 'ran',
      options({ apiKey: 'thoth_live_not_a_real_key', failOpen: true, telemetry: false }),
    );
    const violation = await violationOf(search());
    expect(violation).toMatchObject({ decision: 'BLOCK', decisionReasonCode: 'enforcer_auth_failed' });
  });

  it('429 and 5xx fail open with one warning per outage', async () => {
    const statuses = [429, 503, 500];
    const stub: Server = createServer((_req, res) => {
      res.writeHead(statuses.shift() ?? 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ decision: 'ALLOW', error: 'overloaded', message: 'try later' }));
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    const local: string[] = [];
    const search = wrapTool('search_docs', () => 'ran', {
      ...options({ apiUrl: url, telemetry: false }),
      logger: { warn: (m) => local.push(m) },
    });
    for (let i = 0; i < 3; i++) await expect(search()).resolves.toBe('ran');
    expect(local.filter((m) => m.includes('failing open'))).toHaveLength(1);
    await expect(search()).resolves.toBe('ran'); // 200 again: the outage ends
    expect(local.some((m) => m.includes('answering again'))).toBe(true);
    stub.close();
  });

  it('a hung enforcer times out and fails open', async () => {
    const hung: Server = createServer(() => {});
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
    const search = wrapTool(
      'search_docs',
      () => 'ran',
      options({ apiUrl: url, timeoutMs: 200, telemetry: false }),
    );
    await expect(search()).resolves.toBe('ran');
    hung.closeAllConnections();
    hung.close();
  });

  it('server stopped: fail-open runs the tool and warns once; failOpen:false blocks', async () => {
    await flush();
    await thoth.stop();
    const local: string[] = [];
    const search = wrapTool('search_docs', (q: string) => `found ${q}`, {
      ...options({ telemetry: false }),
      logger: { warn: (m) => local.push(m) },
    });
    await expect(search('a')).resolves.toBe('found a');
    await expect(search('b')).resolves.toBe('found b');
    const outageWarnings = local.filter((m) => m.includes('enforcer unavailable'));
    expect(outageWarnings).toHaveLength(1);
    expect(outageWarnings[0]).toMatch(/ECONNREFUSED/);

    const strict = wrapTool('search_docs', () => 'ran', options({ failOpen: false, telemetry: false }));
    const violation = await violationOf(strict());
    expect(violation).toMatchObject({ decision: 'BLOCK', decisionReasonCode: 'enforcer_unavailable' });
  });
});

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SigningKey, Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalsIn, verifyBundle } from '../scripts/verify-bundle.mjs';
import type { PersonPrincipal } from '../services/api/src/http/principal.ts';
import { AuditWriter } from '../services/audit-writer/src/audit-writer.ts';
import { enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { quietLog, waitFor } from './helpers.ts';

/**
 * The approval record is evidence: each vote of a two-person approval is an event of the agent's chain, in the
 * session's evidence bundle, and the offline verifier names both approvers and the arguments they approved.
 */
const run = promisify(execFile);
const tenant = 'acme-corp';
const session = 'two-person-session';
const ISSUER = 'https://idp.example.com';
const person = (subject: string): PersonPrincipal => ({
  kind: 'person',
  issuer: ISSUER,
  subject,
  email: `${subject}@example.com`,
  name: subject,
  groups: ['payments-approvers'],
  tenantId: tenant,
  role: 'approver',
});

let api: TestApi;
let store: Store;
let writer: AuditWriter;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'thoth-approval-evidence-'));
  store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
  api = await startTestApi({
    store,
    policy: {
      version: 4,
      rules: [
        {
          id: 'wire',
          condition: 'true',
          tools: ['wire_transfer'],
          effect: 'STEP_UP',
          reason: 'wires need two approvers',
          approvals_required: 2,
        },
      ],
    },
  });
  writer = new AuditWriter({
    bus: api.bus,
    codec: api.codec,
    store,
    eventsTopic: api.topics.events,
    log: quietLog,
    signingKey: SigningKey.loadOrCreate(join(dataDir, 'writer-key.pem')),
    controlTopic: api.topics.control,
    checkpointIntervalMs: 300,
  });
  await writer.start();
});

afterAll(async () => {
  await writer?.stop();
  await api?.close();
  await store?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a two-person approval in the evidence bundle', () => {
  it('verifies offline and names both approvers, each bound to the held call’s arguments and policy version', async () => {
    const enforced = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { authorization: `Bearer ${api.key}` },
      payload: enforceBody({
        session_id: session,
        tool_name: 'wire_transfer',
        approved_scope: ['wire_transfer'],
        tool_args: { amount: 250_000, iban: 'DE89370400440532013000' },
      }),
    });
    const { hold_token: token, decision } = enforced.json() as { hold_token: string; decision: string };
    expect(decision).toBe('STEP_UP');
    const held = api.service.holds.get(token)!;
    await api.service.holds.vote(token, {
      principal: person('alice'),
      decision: 'approve',
      comment: 'invoice 4471',
    });
    const resolved = await api.service.holds.vote(token, {
      principal: person('bob'),
      decision: 'approve',
      comment: null,
    });
    expect(resolved.status).toBe('approved');

    let bundle: Record<string, unknown> = {};
    await waitFor('the approval in the trail', async () => {
      const r = await api.inject({
        method: 'GET',
        url: `/${tenant}/thoth/sessions/${session}/evidence-bundle`,
        headers: { authorization: `Bearer ${api.key}` },
      });
      bundle = r.json() as Record<string, unknown>;
      const types = ((bundle.records as Array<{ event_type: string }> | undefined) ?? []).map(
        (e) => e.event_type,
      );
      return types.includes('APPROVAL_APPROVED');
    });
    const types = (bundle.records as Array<{ event_type: string }>).map((e) => e.event_type);
    // The request, the first vote (which did not decide yet) and the resolution, each a link of the chain.
    expect(types).toEqual(
      expect.arrayContaining(['APPROVAL_REQUESTED', 'APPROVAL_VOTE', 'APPROVAL_APPROVED']),
    );
    expect(verifyBundle(bundle)).toBeUndefined();
    expect(approvalsIn(bundle)).toEqual([
      expect.objectContaining({
        approval_id: held.approval_id,
        status: 'approved',
        args_digest: held.args_digest,
        policy_version: 4,
        votes: [
          expect.objectContaining({ decision: 'approve', args_digest: held.args_digest, policy_version: 4 }),
          expect.objectContaining({ decision: 'approve', args_digest: held.args_digest, policy_version: 4 }),
        ],
      }),
    ]);

    const file = join(dataDir, 'bundle.json');
    writeFileSync(file, JSON.stringify(bundle));
    const { stdout } = await run(process.execPath, [
      resolve(import.meta.dirname, '../scripts/verify-bundle.mjs'),
      file,
    ]);
    expect(stdout).toMatch(/^VALID: /);
    expect(stdout).toContain(
      `approval ${held.approval_id} (wire_transfer, arguments sha256 ${held.args_digest}, policy version 4): approved`,
    );
    expect(stdout).toContain(`approve by alice@example.com (issuer ${ISSUER}, subject alice)`);
    expect(stdout).toContain(`approve by bob@example.com (issuer ${ISSUER}, subject bob)`);
    expect(stdout).toContain('invoice 4471');

    // A bundle whose approvals claim two approvers but hold one (records cut out, bundle re-signed by a forger)
    // does not verify: the chain or the signature gives it away.
    const cut = {
      ...bundle,
      records: (bundle.records as Array<{ event_type: string }>).filter(
        (r) => r.event_type !== 'APPROVAL_VOTE',
      ),
    };
    expect(verifyBundle(cut)).toMatch(/signature does not verify/);
  });
});

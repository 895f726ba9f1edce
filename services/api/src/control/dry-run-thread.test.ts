import { once } from 'node:events';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { ChainFields, DecisionEvent } from '@thoth/contracts';
import { startPureThread } from '@thoth/platform';
import { describe, expect, it } from 'vitest';
import { decisionEvent } from '../../../../test/fixtures.ts';
import { compilePolicy } from '../decision/index.ts';
import { runDryRunThread } from './dry-run-thread.ts';
import { dryRunPolicy, portablePolicy } from './policy-dry-run.ts';

function decision(i: number, toolArgs: unknown): DecisionEvent {
  return decisionEvent({
    event_id: `e-${i}`,
    agent_id: 'importer',
    session_id: `s-${Math.floor(i / 10)}`,
    tool_name: i % 3 === 0 ? 'wire_transfer' : 'import_rows',
    action_classification: 'write',
    violation_id: `v-${i}`,
    enforcement_trace_id: `t-${i}`,
    tool_args_json: JSON.stringify(toolArgs),
    occurred_at: 1_700_000_000_000 + i * 1000,
  });
}

/** The row the audit writer stores for `event` (the payload may keep every field: columns only fill gaps). */
const row = (event: DecisionEvent): ChainFields => ({
  tenant_id: event.tenant_id,
  agent_id: event.agent_id,
  event_id: event.event_id,
  kind: 'decision',
  event_type: 'DECISION',
  session_id: event.session_id,
  user_id: event.user_id,
  tool_name: event.tool_name,
  decision: event.decision,
  reason_code: event.reason_code,
  risk_score: event.risk_score,
  enforcement_mode: event.enforcement_mode,
  violation_id: event.violation_id ?? '',
  enforcement_trace_id: event.enforcement_trace_id ?? '',
  content: '',
  payload: JSON.stringify(event),
  occurred_at_ms: event.occurred_at,
});

const policy = compilePolicy({
  version: 4,
  rules: [
    { id: 'no-wires', condition: 'tool == "wire_transfer"', effect: 'BLOCK', reason: 'no wires' },
    {
      id: 'big-batch',
      condition: 'args.items.all(x, x >= 0)',
      effect: 'FLAG',
      reason: 'big',
      risk_points: 10,
    },
  ],
});

describe('runDryRunThread', () => {
  it('replays on a thread of its own, with the same result as on this one', async () => {
    const events = Array.from({ length: 1_200 }, (_, i) => decision(i, { items: [1, 2, i] }));
    const outcome = await runDryRunThread(portablePolicy(policy), events.map(row), { samples: 5 });
    expect(outcome.truncated).toBe(false);
    expect(outcome.result).toEqual(dryRunPolicy(policy, events, 5));
    expect(outcome.result).toMatchObject({
      policy_version: 4,
      evaluated: 1_200,
      rule_matches: { 'no-wires': 400, 'big-batch': 1_200 },
    });
  });

  it('stops at its deadline and answers what it replayed, flagged truncated', async () => {
    // Each event's rule scans 9,000 items, just under its cost limit: ~4 ms an event, ~8 s for them all.
    const heavy = compilePolicy({
      rules: [{ id: 'scan', condition: 'args.items.all(x, x >= 0)', effect: 'BLOCK', reason: 'scan' }],
    });
    const items = Array.from({ length: 9_000 }, (_, i) => i);
    const rows = Array.from({ length: 2_000 }, (_, i) => row(decision(i, { items })));
    const started = Date.now();
    const outcome = await runDryRunThread(portablePolicy(heavy), rows, { samples: 0, deadlineMs: 3_000 });
    expect(Date.now() - started).toBeLessThan(4_500);
    expect(outcome.truncated).toBe(true);
    expect(outcome.result.evaluated).toBeGreaterThan(0);
    expect(outcome.result.evaluated).toBeLessThan(rows.length);
  });

  it('replays a policy in force that is over the compile-time limit, bounded at run time', async () => {
    const legacy = compilePolicy(
      {
        rules: [
          {
            id: 'nested',
            condition: 'args.items.all(x, args.items.all(y, x + y >= 0))',
            effect: 'BLOCK',
            reason: 'nested',
          },
        ],
      },
      { checkCost: false },
    );
    const items = Array.from({ length: 2_000 }, (_, i) => i);
    const outcome = await runDryRunThread(portablePolicy(legacy), [row(decision(1, { items }))], {
      samples: 0,
    });
    expect(outcome.result).toMatchObject({ evaluated: 1, rule_errors: { nested: 1 }, would_block: 0 });
  });
});

describe('startPureThread', () => {
  it('refuses to load chDB on the thread', async () => {
    const chdb = pathToFileURL(createRequire(import.meta.url).resolve('chdb'));
    const importer = new URL(`data:text/javascript,import ${JSON.stringify(chdb.href)};`);
    const worker = startPureThread(importer, null, { maxOldGenerationMb: 64 });
    const [error] = (await once(worker, 'error')) as [Error];
    expect(error.message).toMatch(/a pure thread may not load .*\/node_modules\/chdb\//);
  });
});

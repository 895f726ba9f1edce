import type { HoldRecord } from '@thoth/contracts';
import { describe, expect, it } from 'vitest';
import { deliveryId, signatureHeader, verifySignature, webhookBody } from './webhook.ts';

const hold: HoldRecord = {
  token: 'tok',
  approval_id: 'apr_1',
  tenant_id: 'acme',
  agent_id: 'invoice-bot',
  session_id: 's',
  user_id: 'u',
  tool_name: 'wire_transfer',
  args_digest: 'd'.repeat(64),
  args_preview_json: '{"amount":50000}',
  reason: 'wires need approval',
  reason_code: 'step_up_high_risk',
  risk_score: 70,
  violation_id: 'v1',
  enforcement_trace_id: 't',
  finding_ids: [],
  approvers: [],
  approvals_required: 1,
  policy_version: 0,
  votes: [],
  status: 'pending',
  created_at: 0,
  expires_at: 900_000,
  resolved_at: null,
  resolved_by: null,
  comment: null,
};

describe('approval webhooks', () => {
  it('signs the raw body with a timestamp and verifies it, refusing tampering and replay', () => {
    const body = JSON.stringify(webhookBody(hold, 'json'));
    const header = signatureHeader('s3cret', body, 1_000);
    expect(header).toMatch(/^t=1000,v1=[0-9a-f]{64}$/);
    expect(verifySignature('s3cret', body, header, 1_010)).toBe(true);
    expect(verifySignature('s3cret', `${body} `, header, 1_010)).toBe(false);
    expect(verifySignature('other', body, header, 1_010)).toBe(false);
    expect(verifySignature('s3cret', body, header, 1_000 + 301)).toBe(false);
    expect(verifySignature('s3cret', body, 'garbage', 1_000)).toBe(false);
  });

  it('describes the approval, with a stable delivery id per state', () => {
    expect(webhookBody(hold, 'json')).toMatchObject({
      id: 'apr_1:pending',
      type: 'approval.requested',
      approval: { id: 'apr_1', tool_name: 'wire_transfer', args_preview: { amount: 50000 }, risk_score: 70 },
    });
    expect(deliveryId({ ...hold, status: 'denied' })).toBe('apr_1:denied');
    expect(
      webhookBody({ ...hold, status: 'denied', resolved_by: 'alice', comment: 'no' }, 'json'),
    ).toMatchObject({
      type: 'approval.denied',
    });
  });

  it('has a Slack-compatible body (text + blocks)', () => {
    const slack = webhookBody({ ...hold, status: 'approved', resolved_by: 'alice' }, 'slack') as {
      text: string;
      blocks: unknown[];
    };
    expect(slack.text).toContain('wire_transfer');
    expect(slack.text).toContain('approved by alice');
    expect(slack.blocks.length).toBeGreaterThanOrEqual(2);
  });
});

describe('approval links and votes', () => {
  const vote = {
    vote_id: 'v',
    principal: {
      kind: 'person' as const,
      issuer: 'https://idp.example',
      subject: 'alice',
      email: 'alice@example.com',
      key_id: null,
      name: 'Alice',
    },
    decision: 'approve' as const,
    comment: null,
    at: 1_000,
    args_digest: 'd'.repeat(64),
    policy_version: 2,
  };

  it("escapes what an agent or a person chose in Slack's mrkdwn: no link or code span of theirs gets through", () => {
    const crafted = {
      ...hold,
      agent_id: '<https://evil.example|Approve here>',
      tool_name: 'pay` *now* `',
      reason: 'a & b <c>',
      comment: '<!channel>',
      status: 'denied' as const,
      resolved_by: '<@U123>',
    };
    const text = JSON.stringify(webhookBody(crafted, 'slack'));
    expect(text).not.toContain('<https://evil');
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<@U123>');
    expect(text).toContain('&lt;https://evil.example|Approve here&gt;');
    expect(text).toContain("`pay' *now* '`");
    expect(text).toContain('a &amp; b &lt;c&gt;');
  });

  it('links each message to the approval in the console (JSON field, Slack button)', () => {
    const json = webhookBody(hold, 'json', 'https://thoth.example.com/');
    expect(json.approval_url).toBe('https://thoth.example.com/console/approvals?id=apr_1');
    const slack = webhookBody({ ...hold, status: 'denied' }, 'slack', 'https://thoth.example.com') as {
      blocks: Array<{ type: string; elements?: Array<{ url?: string }> }>;
    };
    expect(slack.blocks.find((b) => b.type === 'actions')?.elements?.[0]?.url).toBe(
      'https://thoth.example.com/console/approvals?id=apr_1&status=denied',
    );
    // Without THOTH_PUBLIC_URL there is no link to give.
    expect(webhookBody(hold, 'json')).not.toHaveProperty('approval_url');
  });

  it('a vote that does not decide yet is its own delivery, not a second "requested"', () => {
    const voted = { ...hold, approvals_required: 2, votes: [vote] };
    expect(deliveryId(voted)).toBe('apr_1:vote:1');
    expect(webhookBody(voted, 'json')).toMatchObject({ type: 'approval.voted' });
    expect((webhookBody(voted, 'slack') as { text: string }).text).toContain(
      '1 of 2 approvals (last by alice@example.com)',
    );
    expect(deliveryId(hold)).toBe('apr_1:pending');
  });
});

import { approvalView } from '@thoth/common/approval-view';
import type { HoldRecord } from '@thoth/common/records';

/**
 * Outbound approval webhooks, as pure functions: the message for a hold's state, and its signature
 * (the scheme every Thoth webhook shares, in @thoth/common/webhook-signature).
 */

export type WebhookFormat = 'json' | 'slack';

export function eventType(hold: HoldRecord): string {
  return hold.status === 'pending' ? 'approval.requested' : `approval.${hold.status}`;
}

/** A stable id per (approval, state): receivers dedupe redeliveries on it. */
export function deliveryId(hold: HoldRecord): string {
  return `${hold.approval_id}:${hold.status}`;
}

export function webhookBody(hold: HoldRecord, format: WebhookFormat): Record<string, unknown> {
  const approval = approvalView(hold);
  if (format === 'json') return { id: deliveryId(hold), type: eventType(hold), approval };
  const headline =
    hold.status === 'pending'
      ? `:raised_hand: Approval needed: *${hold.agent_id}* wants to call \`${hold.tool_name}\` (risk ${hold.risk_score})`
      : `${hold.status === 'approved' ? ':white_check_mark:' : ':no_entry:'} \`${hold.tool_name}\` for *${hold.agent_id}* was ${hold.status}${hold.resolved_by ? ` by ${hold.resolved_by}` : ''}`;
  return {
    text: headline,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: headline } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Reason*\n${hold.reason}` },
          { type: 'mrkdwn', text: `*Approval*\n${hold.approval_id}` },
          { type: 'mrkdwn', text: `*Tenant / user*\n${hold.tenant_id} / ${hold.user_id}` },
          { type: 'mrkdwn', text: `*Expires*\n${new Date(hold.expires_at).toISOString()}` },
        ],
      },
      ...(hold.comment
        ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: `Comment: ${hold.comment}` }] }]
        : []),
    ],
  };
}

export { signatureHeader, verifySignature } from '@thoth/common/webhook-signature';

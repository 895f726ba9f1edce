import { createHmac, timingSafeEqual } from 'node:crypto';
import { approvalView } from '@thoth/common/approval-view';
import type { HoldRecord } from '@thoth/common/records';

/**
 * Outbound approval webhooks, as pure functions: the message for a hold's state, and its signature.
 *
 * Signature (Stripe-style, timestamped against replay): header
 *   X-Thoth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 * A receiver recomputes the HMAC over the exact bytes it received and refuses a timestamp older than its
 * tolerance (5 minutes is a good default).
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

export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** What a receiver does (used by our tests, documented for integrators). */
export function verifySignature(
  secret: string,
  body: string,
  header: string | undefined,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const t = Number(match[1]);
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const expected = Buffer.from(signatureHeader(secret, body, t).split('v1=')[1]!, 'hex');
  return timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'));
}

import type { HoldRecord } from '@thoth/contracts';
import { approvalView } from '@thoth/contracts';

/**
 * Outbound approval webhooks, as pure functions: the message for a hold's state, and its signature
 * (the scheme every Thoth webhook shares, in @thoth/contracts (webhook-signature.ts)).
 */

export type WebhookFormat = 'json' | 'slack';

/** Votes so far; a pending hold with votes is a vote that did not decide yet (more approvals needed). */
const votesOf = (hold: HoldRecord) => hold.votes ?? [];
const isVote = (hold: HoldRecord) => hold.status === 'pending' && votesOf(hold).length > 0;

export function eventType(hold: HoldRecord): string {
  if (isVote(hold)) return 'approval.voted';
  return hold.status === 'pending' ? 'approval.requested' : `approval.${hold.status}`;
}

/** A stable id per (approval, state): receivers dedupe redeliveries on it. */
export function deliveryId(hold: HoldRecord): string {
  return isVote(hold)
    ? `${hold.approval_id}:vote:${votesOf(hold).length}`
    : `${hold.approval_id}:${hold.status}`;
}

/**
 * The approval's page in the console (`publicUrl`: THOTH_PUBLIC_URL), where a person signs in and decides; the
 * console opens the approval from its id.
 */
export function approvalLink(hold: HoldRecord, publicUrl: string): string {
  const query = new URLSearchParams({ id: hold.approval_id });
  if (hold.status !== 'pending') query.set('status', hold.status);
  return `${publicUrl.replace(/\/+$/, '')}/console/approvals?${query}`;
}

export function webhookBody(
  hold: HoldRecord,
  format: WebhookFormat,
  publicUrl?: string,
): Record<string, unknown> {
  const approval = approvalView(hold);
  const link = publicUrl ? approvalLink(hold, publicUrl) : undefined;
  if (format === 'json')
    return { id: deliveryId(hold), type: eventType(hold), approval, ...(link ? { approval_url: link } : {}) };
  const approvals = votesOf(hold).filter((v) => v.decision === 'approve').length;
  const headline = isVote(hold)
    ? `:ballot_box_with_check: \`${slackCode(hold.tool_name)}\` for *${slackText(hold.agent_id)}*: ${approvals} of ${hold.approvals_required ?? 1} approvals (last by ${slackText(votesOf(hold).at(-1)?.principal.email ?? votesOf(hold).at(-1)?.principal.name ?? 'a key')})`
    : hold.status === 'pending'
      ? `:raised_hand: Approval needed: *${slackText(hold.agent_id)}* wants to call \`${slackCode(hold.tool_name)}\` (risk ${hold.risk_score})`
      : `${hold.status === 'approved' ? ':white_check_mark:' : ':no_entry:'} \`${slackCode(hold.tool_name)}\` for *${slackText(hold.agent_id)}* was ${hold.status}${hold.resolved_by ? ` by ${slackText(hold.resolved_by)}` : ''}`;
  return {
    text: headline,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: headline } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Reason*\n${slackText(hold.reason)}` },
          { type: 'mrkdwn', text: `*Approval*\n${slackText(hold.approval_id)}` },
          {
            type: 'mrkdwn',
            text: `*Tenant / user*\n${slackText(hold.tenant_id)} / ${slackText(hold.user_id)}`,
          },
          { type: 'mrkdwn', text: `*Expires*\n${new Date(hold.expires_at).toISOString()}` },
        ],
      },
      ...(hold.comment
        ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: `Comment: ${slackText(hold.comment)}` }] }]
        : []),
      ...(link
        ? [
            {
              type: 'actions',
              elements: [
                {
                  type: 'button',
                  text: {
                    type: 'plain_text',
                    text: hold.status === 'pending' ? 'Review in Thoth' : 'Open in Thoth',
                  },
                  url: link,
                },
              ],
            },
          ]
        : []),
    ],
  };
}

export { signatureHeader, verifySignature } from '@thoth/contracts';

/**
 * Text for Slack mrkdwn from a value an agent or a person chose (tool and agent names, reasons, comments): Slack
 * reads `<…|…>` as a link and `&`, `<`, `>` as its own, so a crafted name could put a link beside the approval.
 */
export function slackText(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** The same, for inside a `code span` (a backtick would end it). */
function slackCode(value: string): string {
  return slackText(value).replaceAll('`', "'");
}

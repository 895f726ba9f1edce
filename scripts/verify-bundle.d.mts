// Types of verify-bundle.mjs (a plain-JS script shipped for third parties) for the tests that import it.
export function verifyBundle(bundle: unknown, options?: { keyId?: string }): string | undefined;
export interface BundleApprovalVote {
  voter: string;
  principal: Record<string, unknown>;
  decision: 'approve' | 'deny';
  comment: string | null;
  at: string;
  args_digest: string;
  policy_version: number;
}
export interface BundleApproval {
  approval_id: string;
  tool_name: string;
  args_digest: string;
  policy_version: number;
  approvals_required: number;
  status: string;
  votes: BundleApprovalVote[];
}
export function approvalsIn(bundle: unknown): BundleApproval[];
export function uncheckedDecisions(bundle: unknown): Array<Record<string, unknown>>;

import { createPublicKey, hash, verify } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';
import { leafHash, verifyInclusion } from './merkle-tree.ts';

/**
 * Decision receipts (docs/receipts.md): what Thoth signs for each answer of `POST /v1/enforce`, in one of two
 * forms.
 * - `merkle` (default): the decisions of one tenant made in one turn of the event loop are the leaves of a
 *   Merkle tree (RFC 9162); one Ed25519 signature covers the batch head (root, size, tenant, key, time), and each
 *   receipt carries its leaf index and audit path. One signature a batch instead of one a decision: at load, a
 *   batch holds tens of decisions, and the signature was the largest cost of a decision.
 * - `per-decision`: one Ed25519 signature over each decision, made on the signing thread.
 */

export type ReceiptForm = 'merkle' | 'per-decision';

/** The decision fields a receipt covers (docs/receipts.md §What is signed). */
export interface SignedDecision {
  decision: string;
  decision_reason_code: string;
  decision_id: string;
  enforcement_trace_id: string;
  tenant_id: string;
  agent_id: string;
  session_id: string;
  tool_name: string;
  risk_score: number;
  issued_at: string;
  hold_token?: string | undefined;
  modified_tool_args?: unknown;
  policy_version: number;
}

/** The receipt of the answer; a Merkle receipt adds its batch's head and the decision's place in the tree. */
export interface Receipt {
  signature: string;
  signing_algorithm: 'ed25519';
  key_id: string;
  issued_at: string;
  receipt_format?: 'merkle-v1';
  tree_size?: number;
  leaf_index?: number;
  root?: string;
  audit_path?: string[];
  signed_at?: string;
}

export const MERKLE_RECEIPT_FORMAT = 'merkle-v1';

/** What one signature of a Merkle batch covers. */
export interface BatchHead {
  v: 1;
  type: 'thoth.receipt-batch';
  tenant_id: string;
  key_id: string;
  root: string;
  tree_size: number;
  signed_at: string;
}

/**
 * The leaf of a decision: the canonical JSON of the signed fields, where MODIFY's rewritten arguments are
 * replaced by the SHA-256 of their canonical JSON (`modified_tool_args_sha256`), so the audit trail can keep
 * the leaf's inputs without the unredacted arguments. Its leaf hash, hex.
 */
export function receiptLeaf(decision: SignedDecision): string {
  return leafHash(leafText(decision));
}

/**
 * The canonical JSON of a decision's leaf. It is written field by field, in canonical (sorted) order, because it
 * runs once per decision on the enforce path (the generic canonicalJson took a twentieth of a decision's CPU);
 * a value of an unexpected type takes the generic path. A test holds the two equal.
 */
export function leafText(decision: SignedDecision): string {
  const d = decision;
  const args = d.modified_tool_args;
  if (
    typeof d.decision !== 'string' ||
    typeof d.decision_reason_code !== 'string' ||
    typeof d.decision_id !== 'string' ||
    typeof d.enforcement_trace_id !== 'string' ||
    typeof d.tenant_id !== 'string' ||
    typeof d.agent_id !== 'string' ||
    typeof d.session_id !== 'string' ||
    typeof d.tool_name !== 'string' ||
    typeof d.issued_at !== 'string' ||
    !Number.isFinite(d.risk_score) ||
    !Number.isFinite(d.policy_version) ||
    (d.hold_token !== undefined && typeof d.hold_token !== 'string')
  ) {
    const { modified_tool_args: _args, ...rest } = d;
    const leaf: Record<string, unknown> = { ...rest };
    if (args !== undefined) leaf.modified_tool_args_sha256 = sha256Hex(canonicalJson(args));
    return canonicalJson(leaf);
  }
  const q = JSON.stringify;
  return (
    `{"agent_id":${q(d.agent_id)},"decision":${q(d.decision)},"decision_id":${q(d.decision_id)}` +
    `,"decision_reason_code":${q(d.decision_reason_code)},"enforcement_trace_id":${q(d.enforcement_trace_id)}` +
    (d.hold_token === undefined ? '' : `,"hold_token":${q(d.hold_token)}`) +
    `,"issued_at":${q(d.issued_at)}` +
    (args === undefined ? '' : `,"modified_tool_args_sha256":"${sha256Hex(canonicalJson(args))}"`) +
    `,"policy_version":${q(d.policy_version)},"risk_score":${q(d.risk_score)},"session_id":${q(d.session_id)}` +
    `,"tenant_id":${q(d.tenant_id)},"tool_name":${q(d.tool_name)}}`
  );
}

export function sha256Hex(text: string): string {
  return hash('sha256', text);
}

/** The statement one signature of a Merkle batch covers (docs/receipts.md §The Merkle form). */
export function batchHead(
  tenantId: string,
  keyId: string,
  root: string,
  treeSize: number,
  signedAt: string,
): BatchHead {
  return {
    v: 1,
    type: 'thoth.receipt-batch',
    tenant_id: tenantId,
    key_id: keyId,
    root,
    tree_size: treeSize,
    signed_at: signedAt,
  };
}

/** Whether `receipt` vouches for exactly `decision` under the Ed25519 public key `publicKeyPem`. Both forms. */
export function verifyReceipt(decision: SignedDecision, receipt: Receipt, publicKeyPem: string): boolean {
  if (receipt.issued_at !== decision.issued_at) return false;
  const key = createPublicKey(publicKeyPem);
  if (receipt.receipt_format === undefined)
    return verify(
      null,
      Buffer.from(canonicalJson(decision)),
      key,
      Buffer.from(receipt.signature, 'base64url'),
    );
  if (receipt.receipt_format !== MERKLE_RECEIPT_FORMAT) return false;
  const { leaf_index, tree_size, audit_path, root } = receipt;
  if (leaf_index === undefined || tree_size === undefined || !audit_path || !root) return false;
  if (!verifyInclusion(receiptLeaf(decision), leaf_index, tree_size, audit_path, root)) return false;
  const head = batchHead(decision.tenant_id, receipt.key_id, root, tree_size, receipt.signed_at ?? '');
  return verify(null, Buffer.from(canonicalJson(head)), key, Buffer.from(receipt.signature, 'base64url'));
}

#!/usr/bin/env node
// Offline verifier of a Thoth evidence bundle (schemas/evidence-chain.md). No dependencies: Node.js only.
// Deliberately standalone (with verify-receipt.mjs it re-implements canonical JSON, the link hash and the
// receipts' Merkle hashing) so a third party can audit it.
//   node scripts/verify-bundle.mjs bundle.json [--key-id <id>]
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  canonical,
  ed25519Key,
  HEX_HASH,
  keyIdOf,
  receiptProblem,
  signatureValid as signedBy,
} from './verify-receipt.mjs';

const GENESIS = '0'.repeat(64);
const HASHED = [
  'tenant_id',
  'agent_id',
  'event_id',
  'kind',
  'event_type',
  'session_id',
  'user_id',
  'tool_name',
  'decision',
  'reason_code',
  'risk_score',
  'enforcement_mode',
  'violation_id',
  'enforcement_trace_id',
  'content',
  'payload',
  'occurred_at_ms',
];

function linkHash(record) {
  const hashed = { v: 1, chain_index: record.chain_index, previous_hash: record.previous_hash };
  for (const field of HASHED) hashed[field] = record[field];
  return createHash('sha256').update(canonical(hashed)).digest('hex');
}

/**
 * The listed key named `keyId`, if its PEM really is that key: an Ed25519 key (another kind of key could carry
 * Thoth's 32 key bytes where an id is read from) whose id, the first 16 hex digits of the SHA-256 of its raw 32
 * bytes (docs/receipts.md), is `keyId`. So a forger cannot list its own key under Thoth's id.
 */
function listedKey(keys, keyId) {
  const key = keys.find((k) => k?.key_id === keyId);
  const ed25519 = key && typeof key.public_key_pem === 'string' ? ed25519Key(key.public_key_pem) : undefined;
  return ed25519 && keyIdOf(ed25519) === keyId ? key : undefined;
}

function signatureValid(payload, signature, keyId, keys) {
  const key = listedKey(keys, keyId);
  return key !== undefined && signedBy(canonical(payload), signature, key.public_key_pem);
}

/**
 * A decision record's receipt against the decision the trail holds (docs/receipts.md): a Merkle receipt (the
 * record's `receipt_json`) always; a per-decision signature unless the decision is MODIFY, whose arguments the
 * trail keeps redacted. Undefined when it holds or there is nothing to check.
 */
/** The decision-event fields the payload leaves to a column of the row, and that column. */
const COLUMN_OF_PAYLOAD_FIELD = [
  ['decision', 'decision'],
  ['reason_code', 'reason_code'],
  ['violation_id', 'violation_id'],
  ['enforcement_trace_id', 'enforcement_trace_id'],
  ['tenant_id', 'tenant_id'],
  ['agent_id', 'agent_id'],
  ['session_id', 'session_id'],
  ['tool_name', 'tool_name'],
  ['risk_score', 'risk_score'],
  ['occurred_at', 'occurred_at_ms'],
];

/**
 * The decision records whose receipt this script cannot check against the trail: a MODIFY with a per-decision
 * receipt (THOTH_RECEIPTS=per-decision), whose signature covers the arguments the trail keeps redacted. A bundle
 * is valid with them, but only the receipt the caller kept proves what such a decision was.
 */
export function uncheckedDecisions(bundle) {
  return (bundle.records ?? []).filter((record) => {
    if (record?.kind !== 'decision' || record.decision !== 'MODIFY') return false;
    try {
      return !JSON.parse(record.payload).receipt_json;
    } catch {
      return false;
    }
  });
}

function decisionReceiptProblem(record, keys) {
  if (record.kind !== 'decision') return undefined;
  let fields;
  try {
    fields = JSON.parse(record.payload);
  } catch {
    return 'the payload is not JSON';
  }
  // The payload leaves out what a column of the row holds (schemas/evidence-chain.md).
  const column = (field, name = field) => (Object.hasOwn(fields, field) ? fields[field] : record[name]);
  let merkle;
  try {
    merkle = fields.receipt_json ? JSON.parse(fields.receipt_json) : undefined;
  } catch {
    return 'receipt_json is not JSON';
  }
  // Every decision is recorded with its receipt (receipt_signature and receipt_key_id are required fields of a
  // decision event): a record without one is a record someone stripped.
  if (typeof fields.receipt_signature !== 'string' || typeof fields.receipt_key_id !== 'string')
    return 'the decision has no receipt';
  // The payload leaves out what a column holds; a field in both (older rows) must agree, or the receipt would be
  // checked against the payload while people read the columns (and a decision could pose as an unverifiable MODIFY).
  for (const [field, name] of COLUMN_OF_PAYLOAD_FIELD)
    if (Object.hasOwn(fields, field) && String(fields[field]) !== String(record[name]))
      return `the payload's ${field} ${fields[field]} contradicts the record's ${name} ${record[name]}`;
  // A MODIFY's per-decision signature covers its arguments, which the trail keeps redacted: it cannot be checked
  // here (uncheckedDecisions lists such records, and the command line prints them).
  if (!merkle && record.decision === 'MODIFY') return undefined;
  const occurredAt = column('occurred_at', 'occurred_at_ms');
  if (!Number.isFinite(occurredAt) || Math.abs(occurredAt) > 8.64e15) return 'occurred_at is not a time';
  const decision = {
    decision: column('decision'),
    decision_reason_code: column('reason_code'),
    decision_id: column('violation_id'),
    enforcement_trace_id: column('enforcement_trace_id'),
    tenant_id: column('tenant_id'),
    agent_id: column('agent_id'),
    session_id: column('session_id'),
    tool_name: column('tool_name'),
    risk_score: column('risk_score'),
    issued_at: new Date(occurredAt).toISOString(),
    hold_token: fields.hold_token ?? undefined,
    policy_version: fields.policy_version,
  };
  const receipt = {
    ...merkle,
    signature: fields.receipt_signature,
    signing_algorithm: 'ed25519',
    key_id: fields.receipt_key_id,
    issued_at: merkle?.issued_at ?? decision.issued_at,
  };
  const key = listedKey(keys, receipt.key_id);
  if (!key)
    return `signed by key ${receipt.key_id}, which the bundle does not list (or lists under another key's id)`;
  return receiptProblem(decision, receipt, key.public_key_pem, {
    modifiedArgsSha256: merkle?.modified_tool_args_sha256,
  });
}

/** A vote's principal as people read it: the person's email (issuer, subject), or the key, or the admin token. */
function voterName(p) {
  if (p?.kind === 'person') return `${p.email ?? p.subject} (issuer ${p.issuer}, subject ${p.subject})`;
  if (p?.kind === 'key') return `key ${p.name ?? ''} (${p.key_id ?? '?'})`;
  return p?.name ?? 'admin token';
}

/**
 * The step-up approvals the bundle's records hold (kind "approval"; each payload carries the hold and every vote
 * so far, schemas/evidence-chain.md): per approval, its latest state, the arguments' digest, the policy version
 * and who voted how. Only hashed fields are read: what this returns is as verified as the chain.
 */
export function approvalsIn(bundle) {
  const approvals = new Map();
  for (const record of bundle.records ?? []) {
    if (record.kind !== 'approval') continue;
    let hold;
    try {
      hold = JSON.parse(record.payload);
    } catch {
      continue;
    }
    const known = approvals.get(hold.approval_id);
    if (known && (known.votes.length > (hold.votes ?? []).length || known.status !== 'pending')) continue;
    approvals.set(hold.approval_id, {
      approval_id: hold.approval_id,
      tool_name: hold.tool_name,
      args_digest: hold.args_digest,
      policy_version: hold.policy_version ?? 0,
      approvals_required: hold.approvals_required ?? 1,
      status: hold.status,
      votes: (hold.votes ?? []).map((v) => ({
        voter: voterName(v.principal),
        principal: v.principal,
        decision: v.decision,
        comment: v.comment ?? null,
        at: new Date(v.at).toISOString(),
        args_digest: v.args_digest,
        policy_version: v.policy_version,
      })),
    });
  }
  return [...approvals.values()];
}

/** Who a vote's principal is, as the server tells principals apart. */
function principalIdentity(p) {
  if (p?.kind === 'person') return `person:${p.issuer ?? ''}#${p.subject ?? ''}`;
  if (p?.kind === 'key') return `key:${p.key_id ?? ''}`;
  return 'admin-token';
}

/** A vote bound to other arguments (or policy) than its hold's, or an approval with too few distinct approvers. */
function approvalProblem(approval) {
  for (const vote of approval.votes) {
    if (vote.args_digest !== approval.args_digest)
      return `approval ${approval.approval_id}: ${vote.voter} voted on arguments ${vote.args_digest}, not the held call's ${approval.args_digest}`;
    if (vote.policy_version !== approval.policy_version)
      return `approval ${approval.approval_id}: ${vote.voter} voted under policy version ${vote.policy_version}, not ${approval.policy_version}`;
  }
  if (approval.status === 'approved') {
    // As the server counts (docs/approvals.md): at least one approval; a principal counts once (a person by
    // issuer and subject, a key by its id, the admin token as one); and where more than one is required, only
    // signed-in people count: a key or the admin token cannot stand in for a second person.
    const required = Math.max(1, Number(approval.approvals_required) || 1);
    const approvers = new Set(
      approval.votes
        .filter((v) => v.decision === 'approve')
        .filter((v) => required === 1 || v.principal?.kind === 'person')
        .map((v) => principalIdentity(v.principal)),
    );
    if (approvers.size < required)
      return `approval ${approval.approval_id}: approved by ${approvers.size} distinct approver(s) who may count, ${required} required`;
  }
  return undefined;
}

/** Why `bundle` is not a valid evidence bundle, or undefined when it is. Never throws: malformed input is a reason. */
export function verifyBundle(bundle, options = {}) {
  try {
    return bundleProblem(bundle, options);
  } catch (error) {
    return `the bundle is malformed: ${error.message}`;
  }
}

function bundleProblem(bundle, { keyId }) {
  if (!bundle || typeof bundle !== 'object' || Array.isArray(bundle))
    return 'the bundle is not a JSON object';
  const keys = bundle.public_keys ?? [];
  const records = bundle.records ?? [];
  if (!Array.isArray(keys) || !Array.isArray(records)) return 'public_keys and records must be arrays';
  if (records.some((r) => !r || typeof r !== 'object')) return 'every record must be an object';
  const { signature, ...unsigned } = bundle;
  if (!signature?.signature) return 'the bundle has no signature';
  if (keyId && signature.key_id !== keyId)
    return `signed by key ${signature.key_id}, not the required ${keyId}`;
  if (!signatureValid(unsigned, signature.signature, signature.key_id, keys))
    return 'the bundle signature does not verify: the bundle was modified or signed by an unknown key';
  const last = new Map();
  for (const record of records) {
    const where = `record ${record.event_id} (agent ${record.agent_id}, chain_index ${record.chain_index})`;
    if (!Number.isSafeInteger(record.chain_index) || record.chain_index < 1)
      return `${where}: chain_index is not a positive integer`;
    if (!HEX_HASH.test(record.hash ?? '') || !HEX_HASH.test(record.previous_hash ?? ''))
      return `${where}: hash and previous_hash must be 64 hex digits`;
    if (linkHash(record) !== record.hash) return `${where}: hash does not match its content`;
    if (record.chain_index === 1 && record.previous_hash !== GENESIS)
      return `${where}: first link must follow the genesis`;
    const previous = last.get(record.agent_id);
    if (previous && previous.chain_index + 1 === record.chain_index && previous.hash !== record.previous_hash)
      return `${where}: previous_hash does not match the preceding record`;
    if (previous && record.chain_index <= previous.chain_index) return `${where}: records out of chain order`;
    last.set(record.agent_id, record);
    const problem = decisionReceiptProblem(record, keys);
    if (problem) return `${where}: receipt: ${problem}`;
  }
  for (const approval of approvalsIn(bundle)) {
    const problem = approvalProblem(approval);
    if (problem) return problem;
  }
  if (bundle.checkpoint) {
    const { signature: cs, key_id: ck, ...body } = bundle.checkpoint;
    const where = `checkpoint ${bundle.checkpoint.checkpoint_id}`;
    if (!signatureValid(body, cs, ck, keys)) return `${where}: signature does not verify`;
    if (body.tenant_id !== bundle.tenant_id) return `${where}: signed for tenant ${body.tenant_id}`;
    if (!Array.isArray(body.heads)) return `${where}: no heads`;
    // Each head it signed that the bundle holds must still be that record (schemas/evidence-chain.md): a rewrite
    // after the checkpoint shows here even when the rewritten chain is consistent in itself.
    const held = new Map(records.map((r) => [`${r.agent_id}\u0000${r.chain_index}`, r]));
    for (const head of body.heads) {
      const record = held.get(`${head?.agent_id}\u0000${head?.chain_index}`);
      if (record && record.hash !== head.hash)
        return `${where}: agent ${head.agent_id}'s head at chain_index ${head.chain_index} was signed as ${head.hash}, the bundle holds ${record.hash}`;
    }
  }
  return undefined;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const usage = [
    'usage: node scripts/verify-bundle.mjs bundle.json [--key-id <id>]',
    '',
    'Verifies a Thoth evidence bundle offline (GET /{tenant}/thoth/sessions/{id}/evidence-bundle):',
    'the hash chain, the signed checkpoint and the bundle signature, and lists who approved each held call',
    "(every vote bound to the call's arguments digest). --key-id: require that signing key.",
    'Exit codes: 0 valid, 1 invalid (the first problem is printed), 2 bad usage or unreadable file.',
  ].join('\n');
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
  const [file, flag, keyId] = args;
  if (!file || (flag && flag !== '--key-id') || (flag && !keyId)) {
    console.error(usage);
    process.exit(2);
  }
  let bundle;
  try {
    bundle = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    // A missing or non-JSON file is a usage problem, not a stack trace.
    console.error(`cannot read ${file} as JSON: ${error.message}`);
    process.exit(2);
  }
  const problem = verifyBundle(bundle, { keyId });
  if (problem) {
    console.error(`INVALID: ${problem}`);
    process.exit(1);
  }
  console.log(
    `VALID: ${(bundle.records ?? []).length} records of session ${bundle.session_id} (tenant ${bundle.tenant_id}), signed by key ${bundle.signature.key_id}`,
  );
  for (const record of uncheckedDecisions(bundle))
    console.log(
      `not checked: decision ${record.violation_id} (MODIFY) has a per-decision receipt over arguments the trail keeps redacted; the receipt its caller kept proves it`,
    );
  // Who approved exactly which arguments: each approval in the session, its votes in the order they counted.
  for (const a of approvalsIn(bundle)) {
    console.log(
      `approval ${a.approval_id} (${a.tool_name}, arguments sha256 ${a.args_digest}, policy version ${a.policy_version}): ${a.status}`,
    );
    for (const v of a.votes)
      console.log(`  ${v.decision} by ${v.voter} at ${v.at}${v.comment ? `: ${v.comment}` : ''}`);
  }
}

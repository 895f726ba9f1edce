#!/usr/bin/env node
// Offline verifier of a Thoth decision receipt (docs/receipts.md), both forms: a Merkle batch receipt and a
// per-decision signature. No dependencies: Node.js only, and deliberately standalone (it re-implements canonical
// JSON and RFC 9162's Merkle hashing) so a third party can audit it. scripts/verify-bundle.mjs uses it too.
//   node scripts/verify-receipt.mjs request.json response.json public-key.pem
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';

export function canonical(value) {
  // JSON.stringify writes NaN and ±Infinity as null: a number with no JSON form has no canonical form either
  // (as in the library's canonicalJson), or two different documents would share one signature.
  if (typeof value === 'number' && !Number.isFinite(value))
    throw new TypeError(`${value} has no canonical JSON form`);
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonical(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (...parts) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
};
const leafHash = (text) => sha256(Buffer.from([0]), Buffer.from(text));
const nodeHash = (left, right) =>
  sha256(Buffer.from([1]), Buffer.from(left, 'hex'), Buffer.from(right, 'hex'));

/** A SHA-256 hash in hex, as receipts and the chain write them. */
export const HEX_HASH = /^[0-9a-fA-F]{64}$/;

/** RFC 9162 §2.1.3.2: does `path` lead from `leaf` at `index` of a `size`-leaf tree to `root`? */
export function verifyInclusion(leaf, index, size, path, root) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (!Array.isArray(path)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    // Buffer.from(p, 'hex') would skip what is not hex and read a look-alike such as U+0130 as 0: a path element
    // is 64 hex digits or no proof at all.
    if (sn === 0 || typeof p !== 'string' || !HEX_HASH.test(p)) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else r = nodeHash(r, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r === root;
}

/**
 * The decision a receipt covers, from the request sent to POST /v1/enforce and its answer. For a Merkle receipt,
 * MODIFY's arguments enter the leaf as the SHA-256 of their canonical JSON; `modifiedArgsSha256` supplies that
 * digest where the arguments themselves are not at hand (the audit trail stores them redacted).
 */
export function signedDecision(request, response) {
  return {
    decision: response.decision,
    decision_reason_code: response.decision_reason_code,
    decision_id: response.decision_id,
    enforcement_trace_id: response.enforcement_trace_id,
    tenant_id: request.tenant_id,
    agent_id: request.agent_id,
    session_id: request.session_id,
    tool_name: request.tool_name,
    risk_score: response.risk_score,
    issued_at: response.receipt?.issued_at,
    hold_token: response.hold_token ?? undefined,
    modified_tool_args: response.modified_tool_args,
    policy_version: response.policy_version,
  };
}

/** An Ed25519 signature in unpadded base64url: 64 bytes are exactly 86 characters (a lenient decoder would
 * accept padding, junk and other spellings of the same bytes). */
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/** The Ed25519 key of a PEM, or undefined when the PEM is not one (an RSA key must not pass for Thoth's). */
export function ed25519Key(publicKeyPem) {
  try {
    const key = createPublicKey(publicKeyPem);
    return key.asymmetricKeyType === 'ed25519' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** A key id: the first 16 hex digits of the SHA-256 of the raw 32-byte Ed25519 public key (docs/receipts.md). */
export function keyIdOf(key) {
  const raw = Buffer.from(key.export({ format: 'jwk' }).x, 'base64url');
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

export function signatureValid(text, signature, publicKeyPem) {
  const key = ed25519Key(publicKeyPem);
  if (!key || typeof signature !== 'string' || !SIGNATURE.test(signature)) return false;
  // The last character carries 4 unused bits: only the one spelling that encodes back to itself counts.
  const bytes = Buffer.from(signature, 'base64url');
  if (bytes.toString('base64url') !== signature) return false;
  try {
    return verify(null, Buffer.from(text), key, bytes);
  } catch {
    return false;
  }
}

/**
 * Why `receipt` does not vouch for `decision` (a `signedDecision`) under `publicKeyPem`, or undefined when it
 * does. `modifiedArgsSha256` stands in for `decision.modified_tool_args` in a Merkle leaf (see above).
 */
export function receiptProblem(decision, receipt, publicKeyPem, options = {}) {
  try {
    return receiptProblemOf(decision, receipt, publicKeyPem, options);
  } catch (error) {
    // A value with no canonical form (a number out of range), a malformed path: not a valid receipt.
    return `the decision or its receipt is malformed: ${error.message}`;
  }
}

function receiptProblemOf(decision, receipt, publicKeyPem, { modifiedArgsSha256 }) {
  if (!decision || typeof decision !== 'object') return 'no decision';
  if (!receipt || typeof receipt !== 'object' || typeof receipt.signature !== 'string')
    return 'no receipt signature';
  if (receipt.signing_algorithm !== 'ed25519')
    return `unknown signing algorithm ${receipt.signing_algorithm}`;
  const key = ed25519Key(publicKeyPem);
  if (!key) return 'the public key is not an Ed25519 key';
  // The key id a receipt names is the key's own (signed in a Merkle batch head, and printed as the signer).
  if (receipt.key_id !== keyIdOf(key))
    return `the receipt names key ${receipt.key_id}, not the given key's ${keyIdOf(key)}`;
  if (receipt.issued_at !== decision.issued_at) return 'issued_at differs from the decision';
  if (receipt.receipt_format === undefined)
    return signatureValid(canonical(decision), receipt.signature, publicKeyPem)
      ? undefined
      : 'the signature does not verify';
  if (receipt.receipt_format !== 'merkle-v1') return `unknown receipt format ${receipt.receipt_format}`;
  const { modified_tool_args, ...leafFields } = decision;
  const digest =
    modified_tool_args !== undefined ? sha256(canonical(modified_tool_args)) : modifiedArgsSha256;
  if (digest !== undefined) leafFields.modified_tool_args_sha256 = digest;
  const leaf = leafHash(canonical(leafFields));
  if (!verifyInclusion(leaf, receipt.leaf_index, receipt.tree_size, receipt.audit_path, receipt.root))
    return 'the decision is not the leaf its audit path leads from to the root';
  const head = {
    v: 1,
    type: 'thoth.receipt-batch',
    tenant_id: decision.tenant_id,
    key_id: receipt.key_id,
    root: receipt.root,
    tree_size: receipt.tree_size,
    signed_at: receipt.signed_at,
  };
  return signatureValid(canonical(head), receipt.signature, publicKeyPem)
    ? undefined
    : 'the batch signature does not verify';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const usage = [
    'usage: node scripts/verify-receipt.mjs request.json response.json public-key.pem',
    '',
    'Verifies the receipt of one POST /v1/enforce answer offline (docs/receipts.md): a Merkle batch receipt',
    "or a per-decision signature. The public key: GET /v1/keys/receipt, the receipt's key_id.",
    'Exit codes: 0 valid, 1 invalid (the reason is printed), 2 bad usage or unreadable file.',
  ].join('\n');
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
  if (args.length !== 3) {
    console.error(usage);
    process.exit(2);
  }
  let request;
  let response;
  let pem;
  try {
    request = JSON.parse(readFileSync(args[0], 'utf8'));
    response = JSON.parse(readFileSync(args[1], 'utf8'));
    pem = readFileSync(args[2], 'utf8');
  } catch (error) {
    console.error(`cannot read the inputs: ${error.message}`);
    process.exit(2);
  }
  if (!response || typeof response !== 'object' || !request || typeof request !== 'object') {
    console.error('INVALID: the request and the response must be JSON objects');
    process.exit(1);
  }
  const problem = receiptProblem(signedDecision(request, response), response.receipt, pem);
  if (problem) {
    console.error(`INVALID: ${problem}`);
    process.exit(1);
  }
  console.log(`VALID: ${response.decision} ${response.decision_id}, key ${response.receipt.key_id}`);
}

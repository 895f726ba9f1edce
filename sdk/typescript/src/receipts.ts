import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';

/**
 * Verification of the receipt every `POST /v1/enforce` answer carries (docs/receipts.md): both forms, the
 * Merkle batch receipt (`merkle-v1`, RFC 9162 hashing, Ed25519 over the batch head) and the per-decision
 * Ed25519 signature. Pure functions over node:crypto, no I/O: a port of scripts/verify-receipt.mjs.
 */

/** `off` (default): no verification. `warn`: log and act on the answer. `enforce`: refuse an unverified answer. */
export type ReceiptVerificationMode = 'off' | 'warn' | 'enforce';

export interface ReceiptVerification {
  valid: boolean;
  /** Why the receipt does not vouch for the answer (absent when it does). */
  reason?: string;
}

/** The `receipt` of an enforce answer; a Merkle receipt has the batch fields too. */
export interface DecisionReceipt {
  signature: string;
  signing_algorithm: string;
  key_id: string;
  issued_at: string;
  receipt_format?: string;
  tree_size?: number;
  leaf_index?: number;
  root?: string;
  audit_path?: string[];
  signed_at?: string;
}

/** One key of `GET /v1/keys/receipt`. */
export interface ReceiptPublicKey {
  key_id: string;
  algorithm: string;
  public_key_pem: string;
}

export const MERKLE_RECEIPT_FORMAT = 'merkle-v1';

type Json = Record<string, unknown>;

const asObject = (value: unknown): Json | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;

/**
 * Canonical JSON, as Thoth signs it (services/contracts/src/canonical-json.ts): object keys sorted by UTF-16 code
 * units at every depth, no whitespace, members whose value is `undefined` left out (`null` in arrays), numbers
 * and strings as `JSON.stringify` prints them. Non-finite numbers, bigints and cycles throw.
 */
export function canonicalJson(value: unknown): string {
  const text = write(value, []);
  if (text === undefined) throw new TypeError(`canonicalJson: a top-level ${typeof value} has no JSON form`);
  return text;
}

function write(input: unknown, ancestors: object[]): string | undefined {
  const value =
    typeof input === 'object' &&
    input !== null &&
    typeof (input as { toJSON?: unknown }).toJSON === 'function'
      ? (input as { toJSON(): unknown }).toJSON()
      : input;
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new RangeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'bigint':
      throw new TypeError('canonicalJson: bigint has no JSON form');
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object': {
      if (value === null) return 'null';
      if (ancestors.includes(value)) throw new TypeError('canonicalJson: cyclic structure');
      ancestors.push(value);
      let text: string;
      if (Array.isArray(value)) {
        text = `[${value.map((item) => write(item, ancestors) ?? 'null').join(',')}]`;
      } else {
        const record = value as Json;
        const members: string[] = [];
        // The default sort compares UTF-16 code units: RFC 8785's order.
        for (const key of Object.keys(record).sort()) {
          const member = write(record[key], ancestors);
          if (member !== undefined) members.push(`${JSON.stringify(key)}:${member}`);
        }
        text = `{${members.join(',')}}`;
      }
      ancestors.pop();
      return text;
    }
  }
}

function sha256Hex(...parts: (string | Uint8Array)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

/** RFC 9162 leaf hash (hex): SHA-256(0x00 ‖ UTF-8 of `text`). */
export function leafHash(text: string): string {
  return sha256Hex(Buffer.from([0]), Buffer.from(text, 'utf8'));
}

/** RFC 9162 inner node hash (hex) of two child hashes (hex): SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: string, right: string): string {
  return sha256Hex(Buffer.from([1]), Buffer.from(left, 'hex'), Buffer.from(right, 'hex'));
}

const HASH_HEX = /^[0-9a-f]{64}$/;

/**
 * RFC 9162 §2.1.3.2: whether `path` (sibling hashes, hex, from the leaf up) leads from the leaf hash `leaf` at
 * `index` of a tree of `size` leaves to `root`.
 */
export function verifyInclusion(
  leaf: string,
  index: number,
  size: number,
  path: readonly string[],
  root: string,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (!Array.isArray(path) || !path.every((p) => typeof p === 'string' && HASH_HEX.test(p))) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r === root;
}

/**
 * The decision a receipt covers (docs/receipts.md §What is signed), from the request sent to `POST /v1/enforce`
 * and its answer. Fields the answer lacks stay absent; a null `hold_token` is absent.
 */
export function signedDecision(request: unknown, response: unknown): Json {
  const req = asObject(request) ?? {};
  const res = asObject(response) ?? {};
  return {
    decision: res.decision,
    decision_reason_code: res.decision_reason_code,
    decision_id: res.decision_id,
    enforcement_trace_id: res.enforcement_trace_id,
    tenant_id: req.tenant_id,
    agent_id: req.agent_id,
    session_id: req.session_id,
    tool_name: req.tool_name,
    risk_score: res.risk_score,
    issued_at: asObject(res.receipt)?.issued_at,
    hold_token: res.hold_token ?? undefined,
    modified_tool_args: res.modified_tool_args,
    policy_version: res.policy_version,
  };
}

/** The leaf hash of a Merkle receipt's decision: MODIFY's arguments enter as the SHA-256 of their canonical JSON. */
export function receiptLeafHash(decision: Json): string {
  const { modified_tool_args, ...leaf } = decision;
  if (modified_tool_args !== undefined)
    leaf.modified_tool_args_sha256 = sha256Hex(canonicalJson(modified_tool_args));
  return leafHash(canonicalJson(leaf));
}

function signatureValid(text: string, signature: string, key: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(text, 'utf8'), key, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

/**
 * A node:crypto `KeyObject` holding an Ed25519 public key. Typed as `object` in the SDK's public declarations so a
 * consumer's type check needs no @types/node.
 */
export type PublicKeyObject = object;

function publicKeyOf(key: string | PublicKeyObject): KeyObject | undefined {
  if (typeof key !== 'string') return key as KeyObject;
  try {
    return createPublicKey(key);
  } catch {
    return undefined;
  }
}

const invalid = (reason: string): ReceiptVerification => ({ valid: false, reason });

/**
 * Whether the `receipt` of `response` (an answer of `POST /v1/enforce`, parsed) vouches for that answer to
 * `request` (the body that was sent) under the Ed25519 public key `publicKey` (PEM, as `GET /v1/keys/receipt`
 * lists it, or a KeyObject). Both receipt forms. Never throws.
 */
export function verifyReceipt(
  request: unknown,
  response: unknown,
  publicKey: string | PublicKeyObject,
): ReceiptVerification {
  const receipt = asObject(asObject(response)?.receipt);
  if (!receipt || typeof receipt.signature !== 'string' || typeof receipt.issued_at !== 'string')
    return invalid('the answer carries no receipt');
  if (receipt.signing_algorithm !== 'ed25519')
    return invalid(`unknown signing algorithm ${JSON.stringify(receipt.signing_algorithm ?? null)}`);
  const key = publicKeyOf(publicKey);
  if (key?.asymmetricKeyType !== 'ed25519') return invalid('the public key is not an Ed25519 key');
  let decision: Json;
  let decisionText: string;
  try {
    decision = signedDecision(request, response);
    decisionText = canonicalJson(decision);
  } catch (error) {
    return invalid(`the answer has no canonical JSON form (${(error as Error).message})`);
  }
  if (receipt.receipt_format === undefined)
    return signatureValid(decisionText, receipt.signature, key)
      ? { valid: true }
      : invalid('the signature does not verify');
  if (receipt.receipt_format !== MERKLE_RECEIPT_FORMAT)
    return invalid(`unknown receipt format ${JSON.stringify(receipt.receipt_format)}`);

  const { leaf_index, tree_size, audit_path, root, signed_at, key_id } = receipt;
  if (
    typeof leaf_index !== 'number' ||
    typeof tree_size !== 'number' ||
    !Array.isArray(audit_path) ||
    typeof root !== 'string' ||
    !HASH_HEX.test(root) ||
    typeof signed_at !== 'string' ||
    typeof key_id !== 'string'
  )
    return invalid(
      'the Merkle receipt lacks or malforms leaf_index, tree_size, audit_path, root, signed_at or key_id',
    );
  if (!verifyInclusion(receiptLeafHash(decision), leaf_index, tree_size, audit_path as string[], root))
    return invalid('the decision is not the leaf its audit path leads from to the root');
  const head = {
    v: 1,
    type: 'thoth.receipt-batch',
    tenant_id: decision.tenant_id,
    key_id,
    root,
    tree_size,
    signed_at,
  };
  return signatureValid(canonicalJson(head), receipt.signature, key)
    ? { valid: true }
    : invalid('the batch signature does not verify');
}

/**
 * Verifies a session evidence bundle in the browser, as `scripts/verify-bundle.mjs` does offline
 * (schemas/evidence-chain.md): each record's link hash is recomputed (SHA-256 over canonical JSON), the links
 * are followed per agent, and the bundle's and its checkpoint's Ed25519 signatures are checked with WebCrypto
 * against the public keys the bundle carries. Runs the same in Node (tests) and the browser: WebCrypto only.
 */
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
] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json | undefined };

export interface BundleRecord {
  event_id: string;
  agent_id: string;
  chain_index: number;
  previous_hash: string;
  hash: string;
  [field: string]: Json | undefined;
}

export interface PublicKeyEntry {
  key_id: string;
  public_key_pem: string;
}

export interface EvidenceBundle {
  session_id?: string;
  tenant_id?: string;
  records?: BundleRecord[];
  public_keys?: PublicKeyEntry[];
  signature?: { key_id: string; signature: string };
  checkpoint?: {
    checkpoint_id?: string;
    key_id: string;
    signature: string;
    [field: string]: Json | undefined;
  };
  [field: string]: unknown;
}

export interface BundleVerdict {
  valid: boolean;
  /** Records whose links were recomputed. */
  recordsChecked: number;
  /** The first broken link ("record <id> (agent …, chain_index n): …"), when the chain itself is broken. */
  firstBrokenLink: string | undefined;
  /** Every problem found, in order: links first, then signatures. */
  problems: string[];
  signedBy: string | undefined;
}

/** Canonical JSON: keys sorted, undefined members dropped (the text that is hashed and signed). */
export function canonical(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonical(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object)
      .filter((k) => object[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(object[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const encoder = new TextEncoder();

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
  let hex = '';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

export async function linkHash(record: BundleRecord): Promise<string> {
  const hashed: Record<string, unknown> = {
    v: 1,
    chain_index: record.chain_index,
    previous_hash: record.previous_hash,
  };
  for (const field of HASHED) hashed[field] = record[field];
  return sha256Hex(canonical(hashed));
}

function bytesOf(base64: string): Uint8Array<ArrayBuffer> {
  const normal = base64.replace(/-/g, '+').replace(/_/g, '/');
  const padded = normal + '='.repeat((4 - (normal.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function signatureValid(
  payload: unknown,
  signature: string,
  keyId: string,
  keys: readonly PublicKeyEntry[],
): Promise<boolean> {
  const key = keys.find((k) => k.key_id === keyId);
  if (!key) return false;
  try {
    const der = bytesOf(key.public_key_pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
    const publicKey = await crypto.subtle.importKey('spki', der, { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify(
      { name: 'Ed25519' },
      publicKey,
      bytesOf(signature),
      encoder.encode(canonical(payload)),
    );
  } catch {
    return false; // a malformed key or signature verifies nothing
  }
}

export async function verifyBundle(bundle: EvidenceBundle): Promise<BundleVerdict> {
  const keys = bundle.public_keys ?? [];
  const records = bundle.records ?? [];
  const problems: string[] = [];
  let firstBrokenLink: string | undefined;
  const broken = (text: string) => {
    firstBrokenLink ??= text;
    problems.push(text);
  };
  const last = new Map<string, BundleRecord>();
  for (const record of records) {
    const where = `record ${record.event_id} (agent ${record.agent_id}, chain_index ${record.chain_index})`;
    if ((await linkHash(record)) !== record.hash) broken(`${where}: hash does not match its content`);
    if (record.chain_index === 1 && record.previous_hash !== GENESIS)
      broken(`${where}: first link must follow the genesis`);
    const previous = last.get(record.agent_id);
    if (previous && previous.chain_index + 1 === record.chain_index && previous.hash !== record.previous_hash)
      broken(`${where}: previous_hash does not match the preceding record`);
    if (previous && record.chain_index <= previous.chain_index)
      broken(`${where}: records out of chain order`);
    last.set(record.agent_id, record);
  }
  const { signature, ...unsigned } = bundle;
  if (!signature?.signature) problems.push('the bundle has no signature');
  else if (!(await signatureValid(unsigned, signature.signature, signature.key_id, keys)))
    problems.push(
      'the bundle signature does not verify: the bundle was modified or signed by an unknown key',
    );
  if (bundle.checkpoint) {
    const { signature: cs, key_id: ck, ...body } = bundle.checkpoint;
    if (!(await signatureValid(body, cs, ck, keys)))
      problems.push(`checkpoint ${bundle.checkpoint.checkpoint_id ?? '?'}: signature does not verify`);
  }
  return {
    valid: problems.length === 0,
    recordsChecked: records.length,
    firstBrokenLink,
    problems,
    signedBy: signature?.key_id,
  };
}

import { createPublicKey, verify } from 'node:crypto';
import {
  type Breach,
  type ChainHead,
  type ChainVerification,
  ChainVerifier,
  canonicalJson,
  type EvidenceBundle,
} from '@thoth/contracts';
import type { SigningKey, Store } from '@thoth/platform';
import { chainFieldsOf, EVENT_COLUMNS, type StoredEvent } from './audit-queries.ts';

type Reader = Pick<Store, 'select'>;
export interface PublicKeyInfo {
  key_id: string;
  public_key_pem: string;
}

interface CheckpointRow {
  checkpoint_id: string;
  tenant_id: string;
  created_ms: number | string;
  heads: string;
  signature: string;
  key_id: string;
}

const PAGE = 20_000;

/**
 * Recomputes every link of the tenant's chains (or one agent's) from the stored columns, in pages, and reports
 * the first broken link. Also checks the latest signed checkpoint: its signature, and that each head it signed
 * is still in the chain (history rewritten after the checkpoint contradicts it).
 */
export async function verifyChains(
  store: Reader,
  tenantId: string,
  keys: PublicKeyInfo[],
  agentId?: string,
): Promise<ChainVerification> {
  const checkpoint = await latestCheckpoint(store, tenantId);
  const signed = checkpoint ? checkpointHeads(checkpoint) : new Map<string, ChainHead>();
  const seenAtCheckpoint = new Map<string, string>();
  const heads: ChainVerification['chain_head'] = {};
  let verifier: ChainVerifier | undefined;
  let breach: Breach | undefined;
  let checked = 0;
  let agents = 0;
  let after: { agent: string; index: number } | undefined;
  const finish = () => {
    if (!verifier) return;
    checked += verifier.checked;
    breach ??= verifier.breach;
    heads[verifier.agentId] = { chain_index: verifier.chainHead.chainIndex, hash: verifier.chainHead.hash };
  };
  while (!breach) {
    const page = await store.select<StoredEvent>(
      `SELECT ${EVENT_COLUMNS} FROM events
       WHERE tenant_id = {tenant:String} ${agentId !== undefined ? 'AND agent_id = {agent:String}' : ''}
         ${after ? 'AND (agent_id, chain_index) > ({afterAgent:String}, {afterIndex:UInt64})' : ''}
       ORDER BY agent_id, chain_index LIMIT {limit:UInt32}`,
      { tenant: tenantId, agent: agentId, afterAgent: after?.agent, afterIndex: after?.index, limit: PAGE },
    );
    for (const row of page) {
      if (verifier?.agentId !== row.agent_id) {
        finish();
        if (breach) break;
        verifier = new ChainVerifier(row.agent_id);
        agents++;
      }
      const fields = chainFieldsOf(row);
      if (signed.get(row.agent_id)?.chainIndex === fields.chain_index)
        seenAtCheckpoint.set(row.agent_id, fields.hash);
      if (verifier.check(fields)) break;
    }
    const last = page[page.length - 1];
    if (page.length < PAGE || !last || verifier?.breach) break;
    after = { agent: last.agent_id, index: Number(last.chain_index) };
  }
  finish();

  let checkpointReport: ChainVerification['checkpoint'] = null;
  if (checkpoint) {
    const signatureValid = checkpointSignatureValid(checkpoint, keys);
    const contradicted = [...signed].filter(
      ([agent, head]) =>
        (agentId === undefined || agent === agentId) && seenAtCheckpoint.get(agent) !== head.hash,
    );
    checkpointReport = {
      checkpoint_id: checkpoint.checkpoint_id,
      created_at: new Date(Number(checkpoint.created_ms)).toISOString(),
      key_id: checkpoint.key_id,
      signature_valid: signatureValid,
      consistent: contradicted.length === 0,
      contradicted_agents: contradicted.map(([agent]) => agent),
    };
  }
  const checkpointOk =
    !checkpointReport || (checkpointReport.signature_valid === true && checkpointReport.consistent === true);
  return {
    verified: !breach && checkpointOk,
    records_checked: checked,
    agents_checked: agents,
    chain_head: heads,
    breach_detail: breach ?? null,
    checkpoint: checkpointReport,
  };
}

export async function latestCheckpoint(store: Reader, tenantId: string): Promise<CheckpointRow | undefined> {
  const [row] = await store.select<CheckpointRow>(
    `SELECT checkpoint_id, tenant_id, toUnixTimestamp64Milli(created_at) AS created_ms, heads, signature, key_id
     FROM chain_checkpoints WHERE tenant_id = {tenant:String} ORDER BY created_at DESC LIMIT 1`,
    { tenant: tenantId },
  );
  return row;
}

function checkpointHeads(c: CheckpointRow): Map<string, ChainHead> {
  const heads = JSON.parse(c.heads) as Array<{ agent_id: string; chain_index: number; hash: string }>;
  return new Map(heads.map((h) => [h.agent_id, { chainIndex: h.chain_index, hash: h.hash }]));
}

/** The checkpoint as it was signed (see AuditWriter.checkpoint). */
export function checkpointBody(c: CheckpointRow) {
  return {
    checkpoint_id: c.checkpoint_id,
    tenant_id: c.tenant_id,
    created_at: new Date(Number(c.created_ms)).toISOString(),
    heads: JSON.parse(c.heads) as unknown,
  };
}

function checkpointSignatureValid(c: CheckpointRow, keys: PublicKeyInfo[]): boolean {
  const key = keys.find((k) => k.key_id === c.key_id);
  if (!key) return false;
  return verify(
    null,
    Buffer.from(canonicalJson(checkpointBody(c))),
    createPublicKey(key.public_key_pem),
    Buffer.from(c.signature, 'base64url'),
  );
}

/**
 * A session's evidence as one self-contained, signed JSON document that a third party verifies offline with
 * scripts/verify-bundle.mjs: every record with its chain link, the tenant's latest signed checkpoint, the
 * public keys, and an Ed25519 signature over the canonical JSON of everything else.
 */
export async function evidenceBundle(
  store: Reader,
  tenantId: string,
  sessionId: string,
  signer: SigningKey,
  keys: PublicKeyInfo[],
): Promise<EvidenceBundle | undefined> {
  const rows = await store.select<StoredEvent>(
    `SELECT ${EVENT_COLUMNS} FROM events WHERE tenant_id = {tenant:String} AND session_id = {session:String}
     ORDER BY agent_id, chain_index LIMIT 100000`,
    { tenant: tenantId, session: sessionId },
  );
  if (rows.length === 0) return undefined;
  const checkpoint = await latestCheckpoint(store, tenantId);
  const unsigned = {
    bundle_version: 1 as const,
    chain_version: 1 as const,
    tenant_id: tenantId,
    session_id: sessionId,
    generated_at: new Date().toISOString(),
    records: rows.map(chainFieldsOf),
    checkpoint: checkpoint
      ? { ...checkpointBody(checkpoint), signature: checkpoint.signature, key_id: checkpoint.key_id }
      : null,
    public_keys: keys.map((k) => ({
      key_id: k.key_id,
      algorithm: 'ed25519' as const,
      public_key_pem: k.public_key_pem,
    })),
  };
  return { ...unsigned, signature: signer.sign(unsigned) };
}

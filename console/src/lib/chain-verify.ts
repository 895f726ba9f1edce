/**
 * One agent's evidence chain recomputed in the browser, page by page, with progress: the rules of the server's
 * ChainVerifier (services/contracts/src/evidence-chain.ts) — chain_index 1, 2, 3… with no gap or duplicate, each
 * previous_hash the hash before it (the genesis first), each hash the SHA-256 of the link's canonical JSON —
 * stopping at the first broken link. Pages come from `GET /console/api/evidence/links` (the stored columns a
 * link covers, and the chain's length). WebCrypto only: runs the same in Node (tests) and the browser.
 */
import { type BundleRecord, linkHash } from './bundle-verify.ts';

export const GENESIS_HASH = '0'.repeat(64);

export type BreachReason = 'hash_mismatch' | 'previous_hash_mismatch' | 'index_gap' | 'duplicate_index';

/** The first broken link, in the server's shape (verify-chain's `breach_detail`). */
export interface Breach {
  agent_id: string;
  chain_index: number;
  event_id: string;
  reason: BreachReason;
  expected: string;
  found: string;
}

export interface LinksPage {
  agent_id: string;
  /** Records of the agent's chain when the page was read. */
  total: number;
  data: BundleRecord[];
  next_sequence: number | null;
}

export interface ChainProgress {
  checked: number;
  /** The chain's length as last read (it may grow while it is checked). */
  total: number;
}

export interface ChainVerdict {
  verified: boolean;
  records_checked: number;
  chain_head: { chain_index: number; hash: string };
  breach_detail: Breach | null;
}

export class BrowserChainVerifier {
  private head = { chainIndex: 0, hash: GENESIS_HASH };
  checked = 0;
  breach: Breach | undefined;

  constructor(readonly agentId: string) {}

  get chainHead() {
    return { chain_index: this.head.chainIndex, hash: this.head.hash };
  }

  async check(row: BundleRecord): Promise<Breach | undefined> {
    if (this.breach) return this.breach;
    this.checked++;
    const expectedIndex = this.head.chainIndex + 1;
    const fail = (reason: BreachReason, expected: string, found: string): Breach => {
      this.breach = {
        agent_id: this.agentId,
        chain_index: row.chain_index,
        event_id: row.event_id,
        reason,
        expected,
        found,
      };
      return this.breach;
    };
    if (row.chain_index === this.head.chainIndex)
      return fail('duplicate_index', String(expectedIndex), String(row.chain_index));
    if (row.chain_index !== expectedIndex)
      return fail('index_gap', String(expectedIndex), String(row.chain_index));
    if (row.previous_hash !== this.head.hash)
      return fail('previous_hash_mismatch', this.head.hash, row.previous_hash);
    const recomputed = await linkHash(row);
    if (recomputed !== row.hash) return fail('hash_mismatch', recomputed, row.hash);
    this.head = { chainIndex: row.chain_index, hash: row.hash };
    return undefined;
  }
}

/**
 * Pages through an agent's chain (`fetchPage(fromSequence)`), recomputing every link, reporting progress after
 * each page, until the end of the chain or the first broken link. `signal` stops it between pages.
 */
export async function verifyChainInBrowser(
  agentId: string,
  fetchPage: (fromSequence: number) => Promise<LinksPage>,
  onProgress: (progress: ChainProgress) => void,
  signal?: AbortSignal,
): Promise<ChainVerdict> {
  const verifier = new BrowserChainVerifier(agentId);
  let from: number | null = 1;
  while (from !== null) {
    signal?.throwIfAborted();
    const page = await fetchPage(from);
    for (const row of page.data) if (await verifier.check(row)) break;
    onProgress({ checked: verifier.checked, total: Math.max(page.total, verifier.checked) });
    if (verifier.breach) break;
    from = page.next_sequence;
  }
  return {
    verified: verifier.breach === undefined,
    records_checked: verifier.checked,
    chain_head: verifier.chainHead,
    breach_detail: verifier.breach ?? null,
  };
}

/** The server's verify-chain answer, as far as the browser compares it. */
export interface ServerVerdict {
  verified?: unknown;
  records_checked?: unknown;
  breach_detail?: Breach | null;
  chain_head?: Record<string, { chain_index: number; hash: string }>;
  checkpoint?: { signature_valid?: unknown; consistent?: unknown } | null;
}

/**
 * Whether the browser's recomputation agrees with the server's verify-chain for this agent: the same first
 * broken link (or none) and, for an intact chain, the same head — or the server saw more records, appended
 * while the browser read (never fewer). Checkpoint checks are the server's alone (its signature, its heads).
 */
export function verdictsAgree(agentId: string, browser: ChainVerdict, server: ServerVerdict): boolean {
  const sb = server.breach_detail ?? null;
  const bb = browser.breach_detail;
  if (sb || bb)
    return (
      sb !== null &&
      bb !== null &&
      sb.chain_index === bb.chain_index &&
      sb.reason === bb.reason &&
      sb.event_id === bb.event_id
    );
  const head = server.chain_head?.[agentId];
  if (!head) return browser.records_checked === 0;
  if (head.chain_index === browser.chain_head.chain_index) return head.hash === browser.chain_head.hash;
  return head.chain_index > browser.chain_head.chain_index;
}

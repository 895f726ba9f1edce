import { createPublicKey, type KeyObject } from 'node:crypto';
import { classifyFailure, describeFailure } from './enforcer-failure.ts';
import { requestJson } from './http-json.ts';
import { OutageMonitor } from './outage-monitor.ts';
import { verifyReceipt } from './receipts.ts';

/** What the check of one enforce answer's receipt found. `unavailable`: the public keys could not be fetched. */
export type ReceiptCheck =
  | { status: 'valid' }
  | { status: 'invalid'; reason: string }
  | { status: 'unavailable'; reason: string };

type KeyLookup =
  | { kind: 'key'; key: KeyObject }
  | { kind: 'unknown' }
  | { kind: 'unavailable'; reason: string };

/** A receipt naming an unknown key refetches the list, but at most this many distinct unknown ids are remembered. */
const MAX_REMEMBERED_UNKNOWN = 1_000;

/**
 * The public keys that sign one Thoth's receipts (`GET /v1/keys/receipt`, no authentication), fetched on the
 * first verification and cached. A receipt naming a key the cache lacks (a new replica, a rotated key) refetches
 * the list once for that key id; a key id still unknown then is an invalid receipt, and does not refetch again.
 * A failed fetch is not cached: the next verification tries again.
 */
export class ReceiptKeyring {
  /** Fail-open warnings about the key endpoint, once per outage. */
  readonly outage = new OutageMonitor();
  private keys: Map<string, KeyObject> | undefined;
  private loading: Promise<string | undefined> | undefined;
  private readonly refetchedFor = new Set<string>();

  /** `url`: `{apiUrl}/v1/keys/receipt`. */
  constructor(private readonly url: URL) {}

  /** Checks the receipt of `response` (parsed) to `request` (the body sent). Never rejects. */
  async check(request: unknown, response: unknown, timeoutMs: number): Promise<ReceiptCheck> {
    const receipt = (response as { receipt?: { key_id?: unknown } } | null)?.receipt;
    const keyId = typeof receipt === 'object' && receipt !== null ? receipt.key_id : undefined;
    if (typeof keyId !== 'string' || keyId === '')
      return { status: 'invalid', reason: 'the answer carries no receipt (or no key_id)' };
    const lookup = await this.keyFor(keyId, timeoutMs);
    if (lookup.kind === 'unavailable') return { status: 'unavailable', reason: lookup.reason };
    if (lookup.kind === 'unknown')
      return {
        status: 'invalid',
        reason: `the receipt names key ${JSON.stringify(keyId)}, which GET /v1/keys/receipt does not list`,
      };
    const verdict = verifyReceipt(request, response, lookup.key);
    return verdict.valid
      ? { status: 'valid' }
      : { status: 'invalid', reason: verdict.reason ?? 'the receipt does not verify' };
  }

  private async keyFor(keyId: string, timeoutMs: number): Promise<KeyLookup> {
    if (!this.keys) {
      const problem = await this.load(timeoutMs);
      if (problem !== undefined) return { kind: 'unavailable', reason: problem };
    }
    const cached = this.keys?.get(keyId);
    if (cached) return { kind: 'key', key: cached };
    if (this.refetchedFor.has(keyId)) return { kind: 'unknown' };
    if (this.refetchedFor.size >= MAX_REMEMBERED_UNKNOWN) this.refetchedFor.clear();
    this.refetchedFor.add(keyId);
    const problem = await this.load(timeoutMs);
    if (problem !== undefined) {
      this.refetchedFor.delete(keyId); // not looked up: may refetch for it later
      return { kind: 'unavailable', reason: problem };
    }
    const fetched = this.keys?.get(keyId);
    return fetched ? { kind: 'key', key: fetched } : { kind: 'unknown' };
  }

  /** One fetch at a time (concurrent verifications share it); resolves with a problem or undefined. */
  private load(timeoutMs: number): Promise<string | undefined> {
    if (!this.loading)
      this.loading = this.fetchKeys(timeoutMs).finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  private async fetchKeys(timeoutMs: number): Promise<string | undefined> {
    const outcome = await requestJson({ method: 'GET', url: this.url, headers: {}, timeoutMs });
    if (outcome.kind !== 'response' || outcome.status !== 200)
      return `GET ${this.url.pathname}: ${describeFailure(classifyFailure(outcome))}`;
    const list = (outcome.body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(list)) return `GET ${this.url.pathname} answered without a "keys" list`;
    const keys = new Map<string, KeyObject>();
    for (const entry of list as { key_id?: unknown; algorithm?: unknown; public_key_pem?: unknown }[]) {
      if (typeof entry?.key_id !== 'string' || typeof entry.public_key_pem !== 'string') continue;
      if (entry.algorithm !== undefined && entry.algorithm !== 'ed25519') continue;
      try {
        const key = createPublicKey(entry.public_key_pem);
        if (key.asymmetricKeyType === 'ed25519') keys.set(entry.key_id, key);
      } catch {
        // an unreadable key verifies nothing; the others still do
      }
    }
    this.keys = keys;
    return undefined;
  }
}

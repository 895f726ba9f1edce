import { createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** `thoth_live_<43 base64url chars>`: 32 bytes of randomness; `test` keys are for non-production use. */
export function generateApiKey(kind: 'live' | 'test' = 'live'): string {
  return `thoth_${kind}_${randomBytes(32).toString('base64url')}`;
}

/** Keys are stored and looked up by this hash only; the plaintext is shown once at creation. */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/** The visible start of a key (enough to recognize it in a list, useless to an attacker). */
export function keyPrefix(key: string): string {
  return key.slice(0, 'thoth_live_'.length + 4);
}

/** The key of a request: `Authorization: Bearer <key>` or `X-Api-Key: <key>` (header names are case-free). */
export function credentialFrom(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const match = /^\s*bearer\s+(\S+)\s*$/i.exec(auth);
    if (match) return match[1];
  }
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.trim() !== '') return apiKey.trim();
  return undefined;
}

/** Compares two secrets in time independent of where they differ (hashing first equalizes lengths). */
export function secretsEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

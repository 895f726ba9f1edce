import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let poolOffset = 0;

/** Random bytes from a pre-filled pool: one syscall per 4 KiB instead of one per id. */
function random(n: number): Buffer {
  if (poolOffset + n > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

/**
 * A ULID: 48-bit millisecond time + 80 random bits in Crockford base32, 26 characters. Sorts by creation
 * time as a plain string, which is what makes violation ids sortable in the audit trail. With `entropy` (≥ 10
 * bytes) the id is deterministic: the same input gives the same id (for records a replay must not duplicate).
 */
export function ulid(nowMs = Date.now(), entropy?: Buffer): string {
  let time = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = entropy ? entropy.subarray(0, 10) : random(10);
  let rand = '';
  // 80 bits → 16 base32 characters, 5 bits at a time.
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      rand += CROCKFORD[(buffer >> bits) & 31];
    }
  }
  return time + rand;
}

/** An unguessable URL-safe token (`bytes` of randomness, base64url). */
export function urlSafeToken(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

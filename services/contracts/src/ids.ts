import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CROCKFORD_CODES = Buffer.from(CROCKFORD, 'latin1');
/** Where `ulid` writes an id (one per thread; read out as a string before it returns). */
const ULID_TEXT = Buffer.alloc(26);
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
  // Written into one reused buffer and read out as one string: concatenating 26 one-character strings cost
  // the enforce path an allocation each.
  let t = nowMs;
  for (let i = 9; i >= 0; i--) {
    ULID_TEXT[i] = CROCKFORD_CODES[t % 32]!;
    t = Math.floor(t / 32);
  }
  const bytes = entropy ? entropy.subarray(0, 10) : random(10);
  // 80 bits → 16 base32 characters, 5 bits at a time.
  let at = 10;
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      ULID_TEXT[at++] = CROCKFORD_CODES[(buffer >> bits) & 31]!;
    }
  }
  return ULID_TEXT.toString('latin1', 0, at);
}

/** An unguessable URL-safe token (`bytes` of randomness, base64url). */
export function urlSafeToken(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

import { hash } from 'node:crypto';

/**
 * The Merkle tree of Certificate Transparency (RFC 9162 §2.1), over SHA-256, with its domain separation: a leaf
 * hashes `0x00 ‖ data`, an inner node `0x01 ‖ left ‖ right`, so no leaf can pose as a node. For n > 1 leaves
 * the tree splits at k, the largest power of two below n. Batched decision receipts (docs/receipts.md) use it:
 * one signature covers a batch's root, and each decision proves its place with an audit path.
 * Pure functions; hashes are lowercase hex outside, bytes inside (one-shot `crypto.hash`: the receipts of the
 * enforce path hash a leaf per decision and a node per decision).
 */

const NODE_PREFIX = Buffer.from([1]);

/** The leaf hash (hex) of `data` (a string is hashed as its UTF-8 bytes). */
export function leafHash(data: string | Uint8Array): string {
  return leafDigest(data).toString('hex');
}

/** The leaf hash of `data`, as bytes. */
export function leafDigest(data: string | Uint8Array): Buffer {
  // U+0000 is the single byte 0x00 in UTF-8: the leaf prefix without a copy of the text into a new buffer.
  if (typeof data === 'string') return hash('sha256', `\u0000${data}`, 'buffer');
  return hash('sha256', Buffer.concat([Buffer.from([0]), data]), 'buffer');
}

/** The hash (hex) of an inner node from its children's hashes (hex). */
export function nodeHash(left: string, right: string): string {
  return nodeDigest(Buffer.from(left, 'hex'), Buffer.from(right, 'hex')).toString('hex');
}

function nodeDigest(left: Buffer, right: Buffer): Buffer {
  return hash('sha256', Buffer.concat([NODE_PREFIX, left, right], 65), 'buffer');
}

/** The largest power of two smaller than n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

interface Node {
  digest: Buffer;
  hex: string;
}

/**
 * The root and every leaf's audit path of a tree over `leaves` (leaf hashes, as bytes or hex; at least one).
 * Hashes come back as hex.
 */
export function merkleTree(leaves: readonly (Buffer | string)[]): { root: string; paths: string[][] } {
  if (leaves.length === 0) throw new Error('a Merkle tree needs at least one leaf');
  const nodes: Node[] = leaves.map((leaf) =>
    typeof leaf === 'string' ? { digest: Buffer.from(leaf, 'hex'), hex: leaf } : { digest: leaf, hex: '' },
  );
  const paths: string[][] = leaves.map(() => []);
  const root = subtree(nodes, 0, nodes.length, paths);
  return { root: hexOf(root), paths };
}

function hexOf(node: Node): string {
  if (node.hex === '') node.hex = node.digest.toString('hex');
  return node.hex;
}

/**
 * The node over leaves [from, to), appending to each of their paths the sibling on the way up: RFC 9162's
 * PATH(m, D[n]) lists the siblings from the leaf up, which is the order the recursion returns in.
 */
function subtree(leaves: readonly Node[], from: number, to: number, paths: string[][]): Node {
  const n = to - from;
  if (n === 1) return leaves[from]!;
  const k = split(n);
  const left = subtree(leaves, from, from + k, paths);
  const right = subtree(leaves, from + k, to, paths);
  const rightHex = hexOf(right);
  const leftHex = hexOf(left);
  for (let i = from; i < from + k; i++) paths[i]!.push(rightHex);
  for (let i = from + k; i < to; i++) paths[i]!.push(leftHex);
  return { digest: nodeDigest(left.digest, right.digest), hex: '' };
}

/**
 * Whether `path` proves that the leaf with hash `leaf` sits at `index` of a tree of `size` leaves whose root is
 * `root` (RFC 9162 §2.1.3.2, the verification of an inclusion proof).
 */
export function verifyInclusion(
  leaf: string,
  index: number,
  size: number,
  path: readonly string[],
  root: string,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        // Right-shift both until fn is odd or zero (the leaf was the last of an unbalanced subtree).
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r === root;
}

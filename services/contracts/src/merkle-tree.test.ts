import { describe, expect, it } from 'vitest';
import { leafHash, merkleTree, nodeHash, verifyInclusion } from './merkle-tree.ts';

// The test vectors of RFC 6962's reference implementation (certificate-transparency, merkle_tree_test): the
// leaves as hex bytes and the root of the tree over the first 1…8 of them.
const VECTOR_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
];
const VECTOR_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

function leaves(n: number): string[] {
  return Array.from({ length: n }, (_, i) => leafHash(`decision ${i}`));
}

describe('merkle tree (RFC 9162)', () => {
  it('matches the reference roots of RFC 6962', () => {
    const hashed = VECTOR_LEAVES.map((hex) => leafHash(Buffer.from(hex, 'hex')));
    for (let n = 1; n <= 8; n++)
      expect(merkleTree(hashed.slice(0, n)).root, `${n} leaves`).toBe(VECTOR_ROOTS[n - 1]);
  });

  it('separates leaves from nodes', () => {
    const [a, b] = leaves(2) as [string, string];
    expect(merkleTree([a, b]).root).toBe(nodeHash(a, b));
    expect(leafHash(Buffer.concat([Buffer.from(a, 'hex'), Buffer.from(b, 'hex')]))).not.toBe(nodeHash(a, b));
  });

  it('proves every leaf of every size up to 70, and nothing else', () => {
    for (let n = 1; n <= 70; n++) {
      const hashed = leaves(n);
      const { root, paths } = merkleTree(hashed);
      for (let i = 0; i < n; i++) {
        const path = paths[i]!;
        expect(verifyInclusion(hashed[i]!, i, n, path, root), `leaf ${i} of ${n}`).toBe(true);
        expect(verifyInclusion(leafHash('another decision'), i, n, path, root)).toBe(false);
        if (n > 1) {
          expect(verifyInclusion(hashed[i]!, (i + 1) % n, n, path, root)).toBe(false);
          const bent = [...path];
          bent[bent.length - 1] = leafHash('bent');
          expect(verifyInclusion(hashed[i]!, i, n, bent, root)).toBe(false);
          expect(verifyInclusion(hashed[i]!, i, n, path.slice(1), root)).toBe(false);
        }
        expect(verifyInclusion(hashed[i]!, i, n, path, leafHash('another root'))).toBe(false);
      }
    }
  });

  it('takes a path element that is not a hash as no proof, never as the bytes of the node hashed before it', () => {
    const [a, b] = leaves(2) as [string, string];
    const root = nodeHash(a, b);
    expect(verifyInclusion(a, 0, 2, [b], root)).toBe(true);
    expect(verifyInclusion(a, 0, 2, [b.toUpperCase()], root)).toBe(true);
    // The node input is written in place: an element hex-decoding to nothing would leave b's bytes there.
    for (const bad of ['zz', '', `${b}00`, b.slice(2), `${b.slice(0, 62)}zz`]) {
      nodeHash(a, b);
      expect(verifyInclusion(a, 0, 2, [bad], root), JSON.stringify(bad)).toBe(false);
    }
    expect(verifyInclusion(a, 0, 2, [42 as unknown as string], root)).toBe(false);
    expect(verifyInclusion(a, 0, 2, b as unknown as string[], root)).toBe(false);
    expect(() => nodeHash(a, 'zz')).toThrow(TypeError);
  });

  it('hashes a node only from two children of 64 hex digits, wherever a bad digit sits', () => {
    const [a, b] = leaves(2) as [string, string];
    const bads = [
      '',
      'zz',
      `${b}00`,
      b.slice(2),
      `${b.slice(0, 62)}zz`,
      `g${b.slice(1)}`,
      `${b.slice(0, 30)}-${b.slice(31)}`,
    ];
    // Hex decoding reads the low byte of each UTF-16 unit: U+0130 and Cyrillic а (U+0430) would pass for '0'.
    const lookalikes = [`${b.slice(0, 62)}\u0130\u0130`, '\u0430'.repeat(64), `${b.slice(0, 63)}\udc30`];
    for (const bad of [...bads, ...lookalikes, 42, null, undefined]) {
      expect(() => nodeHash(a, bad as string), String(bad)).toThrow(TypeError);
      expect(() => nodeHash(bad as string, a), String(bad)).toThrow(TypeError);
    }
    expect(nodeHash(a.toUpperCase(), b)).toBe(nodeHash(a, b));
  });

  it('refuses an index outside the tree', () => {
    const hashed = leaves(3);
    const { root, paths } = merkleTree(hashed);
    expect(verifyInclusion(hashed[0]!, 3, 3, paths[0]!, root)).toBe(false);
    expect(verifyInclusion(hashed[0]!, -1, 3, paths[0]!, root)).toBe(false);
    expect(() => merkleTree([])).toThrow(/at least one leaf/);
  });
});

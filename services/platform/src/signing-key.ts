import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { canonicalJson } from '@thoth/contracts';
import { SigningThread } from './signing-thread.ts';

export interface Signature {
  signature: string;
  signing_algorithm: 'ed25519';
  key_id: string;
}

/**
 * An Ed25519 key that signs what Thoth vouches for: decision receipts (docs/receipts.md), evidence-chain
 * checkpoints and evidence bundles (schemas/evidence-chain.md). Each process keeps its own key in its data
 * directory (created on first start) and publishes the public half on the control topic, so
 * `GET /v1/keys/receipt` on any API replica lists every key that ever signed.
 */
export class SigningKey {
  readonly keyId: string;
  readonly publicKeyPem: string;
  private thread: SigningThread | undefined;

  private constructor(private readonly privateKey: KeyObject) {
    const publicKey = createPublicKey(privateKey);
    this.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
    this.keyId = createHash('sha256').update(raw).digest('hex').slice(0, 16);
  }

  /** Loads the key at `path`, or creates it there (mode 0600) on first start. */
  static loadOrCreate(path: string): SigningKey {
    if (existsSync(path)) return new SigningKey(createPrivateKey(readFileSync(path)));
    const { privateKey } = generateKeyPairSync('ed25519');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    return new SigningKey(privateKey);
  }

  /** Where a process keeps its key. */
  static pathIn(dataDir: string): string {
    return join(dataDir, 'keys', 'signing-ed25519.pem');
  }

  /**
   * Signs on a thread of its own (SigningThread), batched per turn of the event loop: the ~40 µs of an
   * Ed25519 signature leave the event loop, which matters on the enforce path. Same signature as `sign`.
   */
  async signAsync(payload: Record<string, unknown>): Promise<Signature> {
    this.thread ??= new SigningThread(this.privateKey);
    const signature = await this.thread.sign(canonicalJson(payload));
    return { signature, signing_algorithm: 'ed25519', key_id: this.keyId };
  }

  /** Stops the signing thread, if `signAsync` started one. */
  async close(): Promise<void> {
    await this.thread?.close();
    this.thread = undefined;
  }

  /** Signs the canonical JSON of `payload` (UTF-8). */
  sign(payload: Record<string, unknown>): Signature {
    const signature = sign(null, Buffer.from(canonicalJson(payload)), this.privateKey).toString('base64url');
    return { signature, signing_algorithm: 'ed25519', key_id: this.keyId };
  }
}

import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SigningThread } from './signing-thread.ts';

const { privateKey } = generateKeyPairSync('ed25519');
const publicKey = createPublicKey(privateKey);
let thread: SigningThread | undefined;

afterEach(async () => {
  await thread?.close();
  thread = undefined;
});

describe('SigningThread', () => {
  it('answers every text with its own Ed25519 signature, across several batches', async () => {
    thread = new SigningThread(privateKey);
    const texts = Array.from({ length: 70 }, (_, i) => `{"decision":"ALLOW","n":${i},"é":"ü"}`);
    const signatures = await Promise.all(texts.map((text) => thread!.sign(text)));
    for (const [i, text] of texts.entries()) {
      // Ed25519 is deterministic: the thread's signature is the one this thread would make.
      expect(signatures[i]).toBe(sign(null, Buffer.from(text), privateKey).toString('base64url'));
      expect(verify(null, Buffer.from(text), publicKey, Buffer.from(signatures[i]!, 'base64url'))).toBe(true);
    }
  });

  it('fails the signatures in flight when the thread stops, and starts a new thread for the next one', async () => {
    thread = new SigningThread(privateKey);
    await thread.sign('warm up');
    // ~0.2 s of signing: the thread is stopped while it is still at work.
    const inFlight = Array.from({ length: 5000 }, (_, i) => thread!.sign(`text ${i}`));
    await new Promise((resolve) => setImmediate(resolve));
    await thread.close();
    const outcomes = await Promise.allSettled(inFlight);
    expect(outcomes.some((outcome) => outcome.status === 'rejected')).toBe(true);
    expect(await thread.sign('after')).toBe(
      sign(null, Buffer.from('after'), privateKey).toString('base64url'),
    );
  });

  it('fails what it gathered but had not sent yet when closed, and signs again afterwards', async () => {
    thread = new SigningThread(privateKey);
    const gathered = thread.sign('not sent yet');
    await thread.close();
    await expect(gathered).rejects.toThrow('closed');
    expect(await thread.sign('again')).toBe(
      sign(null, Buffer.from('again'), privateKey).toString('base64url'),
    );
  });
});

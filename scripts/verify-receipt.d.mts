// Types of verify-receipt.mjs (a plain-JS script shipped for third parties) for the tests that import it.
export function canonical(value: unknown): string;
export function verifyInclusion(
  leaf: string,
  index: number,
  size: number,
  path: string[],
  root: string,
): boolean;
export function signedDecision(request: object, response: object): Record<string, unknown>;
export function receiptProblem(
  decision: object,
  receipt: unknown,
  publicKeyPem: string,
  options?: { modifiedArgsSha256?: string },
): string | undefined;
export function ed25519Key(publicKeyPem: string): import('node:crypto').KeyObject | undefined;
export function keyIdOf(key: import('node:crypto').KeyObject): string;
export function signatureValid(text: string, signature: unknown, publicKeyPem: string): boolean;
export const HEX_HASH: RegExp;

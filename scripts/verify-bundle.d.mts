// Types of verify-bundle.mjs (a plain-JS script shipped for third parties) for the tests that import it.
export function verifyBundle(bundle: unknown, options?: { keyId?: string }): string | undefined;

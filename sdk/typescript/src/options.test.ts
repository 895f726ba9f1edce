import { describe, expect, it } from 'vitest';
import { resolveConfig, ThothConfigError } from './options.ts';

const base = { agentId: 'a', tenantId: 'acme-corp' };

describe('resolveConfig', () => {
  it('fails at instrument time when the URL or key is missing', () => {
    expect(() => resolveConfig(base, {})).toThrow(ThothConfigError);
    expect(() => resolveConfig(base, { THOTH_API_URL: 'http://x' })).toThrow(/API key missing/);
    expect(() => resolveConfig({ ...base, apiKey: 'k' }, { THOTH_API_URL: 'not a url' })).toThrow(
      /not a URL/,
    );
  });

  it('reads the environment and applies the defaults', () => {
    const config = resolveConfig(base, { THOTH_API_URL: 'http://127.0.0.1:8080', THOTH_API_KEY: 'k' });
    expect(config).toMatchObject({
      enforcement: 'progressive',
      failOpen: true,
      userId: 'system',
      timeoutMs: 5_000,
    });
    expect(config.sessionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('verifies no receipt unless asked, and refuses an unknown verifyReceipts mode', () => {
    const env = { THOTH_API_URL: 'http://x', THOTH_API_KEY: 'k' };
    expect(resolveConfig(base, env).verifyReceipts).toBe('off');
    expect(resolveConfig({ ...base, verifyReceipts: 'enforce' }, env).verifyReceipts).toBe('enforce');
    expect(() => resolveConfig({ ...base, verifyReceipts: 'strict' as 'warn' }, env)).toThrow(
      /verifyReceipts/,
    );
  });

  it('requires brokers and a topic for the Kafka transport', () => {
    expect(() =>
      resolveConfig({ ...base, apiUrl: 'http://x', apiKey: 'k', telemetry: { transport: 'kafka' } }, {}),
    ).toThrow(/kafka/);
  });
});

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

describe('createLogger', () => {
  it('never prints API keys, tokens or key hashes, wherever a request or a record puts them', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger('info', 'test', sink);
    const key = 'thoth_live_SECRETSECRETSECRETSECRET';
    log.info({ req: { headers: { authorization: `Bearer ${key}`, 'x-api-key': key } } }, 'request');
    log.info({ headers: { authorization: `Bearer ${key}`, 'x-api-key': key, cookie: `s=${key}` } }, 'raw');
    log.info({ api_key: key, record: { key_hash: 'abc123hash', token: key }, password: key }, 'fields');
    const text = lines.join('');
    expect(lines).toHaveLength(3);
    expect(text).not.toContain('SECRETSECRET');
    expect(text).not.toContain('abc123hash');
    expect(text).toContain('[REDACTED]');
  });
});

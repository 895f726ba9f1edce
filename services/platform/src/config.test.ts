import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('defaults to the embedded single process on 127.0.0.1:8080', () => {
    const c = loadConfig({});
    expect(c.THOTH_MODE).toBe('embedded');
    expect(c.PORT).toBe(8080);
    expect(c.HOST).toBe('127.0.0.1');
    expect(c.THOTH_DATA_DIR).toBe('./.thoth');
    expect(c.THOTH_SERVICES).toEqual(['all']);
  });

  it('names the variable that is invalid', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ CLICKHOUSE_URL: 'not a url' })).toThrow(/CLICKHOUSE_URL/);
  });

  it('requires the broker and an admin token in distributed mode', () => {
    let message = '';
    try {
      loadConfig({ THOTH_MODE: 'distributed' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/KAFKA_BROKERS/);
    expect(message).toMatch(/THOTH_ADMIN_TOKEN/);
    // Without a ClickHouse server a distributed process stores into its own chDB directory.
    expect(
      loadConfig({ THOTH_MODE: 'distributed', KAFKA_BROKERS: 'k:9092', THOTH_ADMIN_TOKEN: 'x'.repeat(16) })
        .CLICKHOUSE_URL,
    ).toBeUndefined();
  });

  it('shares session risk between replicas only in distributed mode (on by default there)', () => {
    const distributed = {
      THOTH_MODE: 'distributed',
      KAFKA_BROKERS: 'k:9092',
      THOTH_ADMIN_TOKEN: 'x'.repeat(16),
    };
    expect(loadConfig(distributed).THOTH_SHARED_SESSIONS).toBeUndefined();
    expect(loadConfig({ ...distributed, THOTH_SHARED_SESSIONS: 'false' }).THOTH_SHARED_SESSIONS).toBe(false);
    expect(() => loadConfig({ THOTH_SHARED_SESSIONS: 'true' })).toThrow(
      /THOTH_SHARED_SESSIONS: only in distributed mode/,
    );
  });

  it('reads THOTH_TRUST_PROXY as true, false, or a list of addresses and ranges', () => {
    expect(loadConfig({}).THOTH_TRUST_PROXY).toBeUndefined();
    expect(loadConfig({ THOTH_TRUST_PROXY: 'true' }).THOTH_TRUST_PROXY).toBe(true);
    expect(loadConfig({ THOTH_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).THOTH_TRUST_PROXY).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
    ]);
  });

  it('splits comma lists and treats empty variables as unset', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'a:9092, b:9092', PORT: '' });
    expect(c.KAFKA_BROKERS).toEqual(['a:9092', 'b:9092']);
    expect(c.PORT).toBe(8080);
  });

  // Issue 26: a first user must read what to write, not zod's "expected number, received NaN".
  it('names the variable, the expected form and the value given (secrets not echoed)', () => {
    const messageOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    };
    expect(messageOf({ PORT: 'abc' })).toContain('PORT: expected a port number from 0 to 65535 (got "abc")');
    expect(messageOf({ THOTH_METRICS_PORT: '-1' })).toContain(
      'THOTH_METRICS_PORT: expected a port number from 0 to 65535 (got "-1")',
    );
    expect(messageOf({ THOTH_SIEM_METRICS_PORT: '9500' })).toContain(
      'THOTH_SIEM_METRICS_PORT: renamed: set THOTH_METRICS_PORT (every process serves its metrics there) (got "9500")',
    );
    expect(messageOf({ THOTH_MODE: 'single' })).toContain(
      'THOTH_MODE: expected one of embedded, distributed (got "single")',
    );
    expect(messageOf({ THOTH_AUDIT_FLUSH_MS: '1.5' })).toContain(
      'THOTH_AUDIT_FLUSH_MS: expected a whole number',
    );
    expect(messageOf({ THOTH_TOPIC_PARTITIONS: '0' })).toContain('expected a number ≥ 1 (got "0")');
    const secret = messageOf({ THOTH_ADMIN_TOKEN: 'short-secret' });
    expect(secret).toContain('THOTH_ADMIN_TOKEN: at least 16 characters');
    expect(secret).not.toContain('short-secret');
    expect(messageOf({ PORT: 'abc' })).not.toMatch(/received NaN/);
  });
});

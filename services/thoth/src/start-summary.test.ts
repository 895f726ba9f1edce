import { describe, expect, it } from 'vitest';
import { startSummary } from './start-summary.ts';

describe('startSummary', () => {
  it('names mode, URLs, policy file and hash, sinks, data directory and the admin token', () => {
    const text = startSummary({
      mode: 'embedded',
      services: ['api', 'audit-writer', 'baselines', 'siem-export'],
      apiUrl: 'http://127.0.0.1:8080',
      console: true,
      metricsPort: 9464,
      host: '127.0.0.1',
      policy: { source: 'file', path: '/srv/policy.yaml', sha256: 'ab'.repeat(32), ruleCount: 4 },
      sinks: [{ id: 'splunk', type: 'hec', format: 'ocsf' }],
      dataDir: '/srv/.thoth',
      adminToken: { kind: 'file', path: '/srv/.thoth/admin-token' },
    });
    expect(text).toContain('mode         embedded');
    expect(text).toContain('API docs     http://127.0.0.1:8080/docs');
    expect(text).toContain('console      http://127.0.0.1:8080/console/');
    expect(text).toContain('metrics      http://127.0.0.1:9464/metrics');
    expect(text).toContain('policy       /srv/policy.yaml (sha256 abababababab…), 4 rules');
    expect(text).toContain('SIEM sinks   splunk (hec, ocsf)');
    expect(text).toContain('data         /srv/.thoth');
    expect(text).toContain('export THOTH_ADMIN_TOKEN=$(cat /srv/.thoth/admin-token)');
  });

  it('leaves out what does not run here', () => {
    const text = startSummary({
      mode: 'distributed',
      services: ['audit-writer'],
      console: false,
      host: '0.0.0.0',
      dataDir: '/data',
      adminToken: { kind: 'env' },
    });
    expect(text).not.toMatch(/API|console|metrics|policy|SIEM/);
    expect(text).toContain('admin token  from THOTH_ADMIN_TOKEN');
  });
});

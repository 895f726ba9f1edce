import { describe, expect, it } from 'vitest';
import { type SiemEvent, toSiemEvent } from '../siem-event.ts';
import { formatOcsf, isOcsfHostname, OCSF_VERSION, OCSF_VERSIONS } from './ocsf.ts';
import { SAMPLE_RECORDS } from './sample-records.ts';

// Validity against OCSF's own schema of every version is test/siem-standards.test.ts; this is the mapping.

function sample(name: string): SiemEvent {
  const event = toSiemEvent(SAMPLE_RECORDS[name]!);
  if ('unsupported' in event) throw new Error(event.unsupported);
  return event;
}

describe('OCSF mapping', () => {
  it('maps tool calls to API Activity with the security-control disposition, findings to Detection Finding', () => {
    expect(formatOcsf(sample('decision-allow'))).toMatchObject({
      class_uid: 6003,
      disposition_id: 1,
      disposition: 'Allowed',
    });
    expect(formatOcsf(sample('decision-block'))).toMatchObject({
      class_uid: 6003,
      disposition_id: 2,
      disposition: 'Blocked',
      action_id: 2,
      metadata: { profiles: ['security_control'] },
    });
    expect(formatOcsf(sample('decision-step-up'))).toMatchObject({
      class_uid: 6003,
      disposition_id: 23,
      disposition: 'Challenge',
    });
    expect(formatOcsf(sample('finding-rate-spike'))).toMatchObject({
      class_uid: 2004,
      category_uid: 2,
      finding_info: { uid: '01JHFINDING0000000000000001' },
      // The finding's actor is the Host profile's attribute: declared.
      metadata: { profiles: ['host'] },
    });
  });

  it('declares the sink’s version, the newest by default', () => {
    expect(OCSF_VERSIONS.at(-1)).toBe(OCSF_VERSION);
    expect(formatOcsf(sample('decision-block'))).toMatchObject({ metadata: { version: OCSF_VERSION } });
    expect(formatOcsf(sample('decision-block'), '1.4.0')).toMatchObject({ metadata: { version: '1.4.0' } });
  });

  it('puts a hostname that is not a valid hostname_t where a free string belongs', () => {
    expect(isOcsfHostname('worker-3.internal')).toBe(true);
    expect(isOcsfHostname('worker_3.internal')).toBe(false);
    expect(isOcsfHostname('-bad')).toBe(false);
    const valid = formatOcsf({ ...sample('tool-call-pre'), hostname: 'worker-3.internal' });
    expect(valid.src_endpoint).toEqual({ name: 'invoice-processor-v2', hostname: 'worker-3.internal' });
    const invalid = formatOcsf({ ...sample('tool-call-pre'), hostname: 'worker_3.internal' });
    expect(invalid.src_endpoint).toEqual({ name: 'worker_3.internal' });
  });
});

import { describe, expect, it } from 'vitest';
import { SAMPLE_RECORDS } from '../formats/sample-records.ts';
import { toSiemEvent } from '../siem-event.ts';
import { escapeSdParam, octetCounted, rfc5424Message } from './syslog.ts';

describe('RFC 5424 over RFC 6587 octet counting', () => {
  const event = toSiemEvent(SAMPLE_RECORDS['decision-block']!);
  if ('unsupported' in event) throw new Error(event.unsupported);

  it('builds PRI, version, timestamp, host, app, procid, msgid, structured data, then MSG', () => {
    const line = rfc5424Message(event, 'CEF:0|x', { facility: 13, appName: 'thoth', hostname: 'h1' }, '99');
    // facility 13 (log audit) * 8 + severity 3 (error, for a high-severity event)
    expect(line).toBe(
      '<107>1 2026-01-15T09:30:00.123Z h1 thoth 99 decision [thoth@32473 tenant="acme-corp" event_id="01JHDECISIONBLOCK0000000001"] CEF:0|x',
    );
  });

  it('escapes SD-PARAM values and counts bytes, not characters', () => {
    expect(escapeSdParam('a"b]c\\d')).toBe('a\\"b\\]c\\\\d');
    expect(octetCounted('héllo').toString('utf8')).toBe('6 héllo');
  });
});

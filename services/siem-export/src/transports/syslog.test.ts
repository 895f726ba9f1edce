import { describe, expect, it } from 'vitest';
import { fitLine, formatEvent } from '../formats/formats.ts';
import { SAMPLE_RECORDS } from '../formats/sample-records.ts';
import { TRUNCATION_MARKER } from '../formats/text.ts';
import { toSiemEvent } from '../siem-event.ts';
import { boundedMessage, escapeSdParam, octetCounted, rfc5424Message } from './syslog.ts';

describe('RFC 5424 over RFC 6587 octet counting', () => {
  const event = toSiemEvent(SAMPLE_RECORDS['decision-block']!);
  if ('unsupported' in event) throw new Error(event.unsupported);
  const header = { facility: 13, appName: 'thoth', hostname: 'h1' };

  it('builds PRI, version, timestamp, host, app, procid, msgid, structured data, then MSG', () => {
    const line = rfc5424Message(event, 'CEF:0|x', header, '99');
    // facility 13 (log audit) * 8 + severity 3 (error, for a high-severity event)
    expect(line).toBe(
      '<107>1 2026-01-15T09:30:00.123Z h1 thoth 99 decision [thoth@32473 tenant="acme-corp" event_id="01JHDECISIONBLOCK0000000001"] CEF:0|x',
    );
  });

  it('escapes SD-PARAM values, lets no control character into the header, and counts bytes', () => {
    expect(escapeSdParam('a"b]c\\d')).toBe('a\\"b\\]c\\\\d');
    expect(escapeSdParam('forged\n<13>1 2026-01-01T00:00:00Z x')).toBe('forged <13>1 2026-01-01T00:00:00Z x');
    const forged = rfc5424Message({ ...event, id: 'id\r\n<13>1 x\u0000' }, 'm', header, '1');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is checked
    expect(forged).not.toMatch(/[\u0000-\u001f]/);
    expect(octetCounted('héllo').toString('utf8')).toBe('6 héllo');
  });

  it('writes a four-digit year, and NILVALUE from 2100 on (stock rsyslog refuses the header then)', () => {
    expect(rfc5424Message({ ...event, time: 0 }, 'm', header, '1')).toContain(
      ' 1970-01-01T00:00:00.000Z h1 ',
    );
    expect(rfc5424Message({ ...event, time: Date.UTC(2099, 11, 31) }, 'm', header, '1')).toContain(
      ' 2099-12-31T',
    );
    expect(rfc5424Message({ ...event, time: Date.UTC(9999, 11, 31) }, 'm', header, '1')).toMatch(
      /^<107>1 - h1 /,
    );
  });

  it('starts a non-ASCII MSG with the UTF-8 BOM (RFC 5424 §6.4), an ASCII one without', () => {
    expect(rfc5424Message(event, 'naïve', header, '1').endsWith('] \uFEFFnaïve')).toBe(true);
    expect(rfc5424Message(event, 'plain', header, '1').endsWith('] plain')).toBe(true);
  });

  it('cuts an oversize event to the message size, marking it in MSG and in the structured data', () => {
    // Every field long: even CEF, whose fields the dictionary caps, then needs more than 8096 octets.
    const long = (c: string) => c.repeat(3_000);
    const big = {
      ...event,
      message: long('m'),
      reason: long('r'),
      agentId: long('a'),
      sessionId: long('s'),
      toolName: long('t'),
      userId: long('u'),
    };
    for (const format of ['cef', 'leef', 'ocsf', 'ecs'] as const) {
      const item = { event: big, formatted: formatEvent(format, big) };
      const message = boundedMessage(
        item,
        { ...header, maxMessageSize: 8_096, fitLine: (i, max) => fitLine(format, i.event, i.formatted, max) },
        '1',
      )!;
      expect(Buffer.byteLength(message), format).toBeLessThanOrEqual(8_096);
      expect(message, format).toMatch(/ truncated="\d+"\] /);
      expect(message, format).toContain(TRUNCATION_MARKER);
    }
  });
});

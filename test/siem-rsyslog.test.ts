import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BehavioralEvent, DecisionEvent } from '@thoth/contracts';
import { agentKey, topicNames, topicSpecs } from '@thoth/contracts';
import type { DecodedRecord } from '@thoth/platform';
import { AvroCodec, MemoryBus } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_RECORDS } from '../services/siem-export/src/formats/sample-records.ts';
import { TRUNCATION_MARKER } from '../services/siem-export/src/formats/text.ts';
import { SiemExporter } from '../services/siem-export/src/siem-exporter.ts';
import { parseSinkConfig } from '../services/siem-export/src/sink-config.ts';
import { hostileRecords } from './fixtures/siem/hostile-records.ts';
import { freePort, quietLog, uniquePrefix, waitFor } from './helpers.ts';
import { makeTestCa, Rsyslog } from './rsyslog.ts';

/**
 * Issue #20: a stock rsyslog (its default message size, 8096 octets; control characters escaped on receipt) as the relay
 * in front of a SIEM. N events of every kind, with hostile values and oversize ones, sent as CEF, LEEF 2.0 and
 * OCSF JSON, must arrive as exactly N records per format: none split, none merged, none rewritten (`#011`).
 */
const FORMATS = ['cef', 'leef', 'ocsf'] as const;
const OVERSIZE = 12;

let dir: string;
let bus: MemoryBus;
let rsyslog: Rsyslog;
let exporter: SiemExporter;
const codec = new AvroCodec();
const topics = topicNames(uniquePrefix('siem-rsyslog'));

/** Events far over 8 KB: a 300 KB tool-call content and a 100 KB decision reason. */
function oversize(): DecodedRecord[] {
  const toolCall = SAMPLE_RECORDS['tool-call-pre']!.value as BehavioralEvent;
  const decision = SAMPLE_RECORDS['decision-block']!.value as DecisionEvent;
  const message = SAMPLE_RECORDS['tool-call-pre']!.message;
  return Array.from(
    { length: OVERSIZE },
    (_, i): DecodedRecord =>
      i % 2 === 0
        ? {
            schema: 'thoth.v1.BehavioralEvent',
            value: { ...toolCall, event_id: `oversize-${i}`, content: `é${'c'.repeat(300_000)}` },
            message,
            index: 0,
          }
        : {
            schema: 'thoth.v1.DecisionEvent',
            value: { ...decision, event_id: `oversize-${i}`, reason: 'r|='.repeat(35_000) },
            message,
            index: 0,
          },
  );
}

const records: DecodedRecord[] = [...hostileRecords().map(([, r]) => r), ...oversize()];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'thoth-siem-rsyslog-'));
  const ca = makeTestCa(join(dir, 'tls'));
  // Each record as one line: its structured data, then its MSG. No maxMessageSize: rsyslog's default.
  rsyslog = new Rsyslog(join(dir, 'rsyslog'), await freePort(), ca, {
    template: '%structured-data% %msg%',
  });
  await rsyslog.start();
  bus = new MemoryBus({ defaultPartitions: 3 });
  await bus.ensureTopics(topicSpecs(topics, 3));
  const sinks = parseSinkConfig({
    sinks: FORMATS.map((format) => ({
      id: `relay-${format}`,
      tenant: '*',
      type: 'syslog',
      format,
      host: '127.0.0.1',
      port: rsyslog.port,
      tls: true,
      ca_file: ca.caFile,
      batch_size: 50,
      backoff_initial_ms: 100,
      backoff_max_ms: 1_000,
      timeout_ms: 30_000,
    })),
  });
  exporter = new SiemExporter({ bus, codec, eventsTopic: topics.events, log: quietLog, sinks });
  await exporter.start();
}, 60_000);

afterAll(async () => {
  await exporter?.stop();
  await bus?.close();
  await rsyslog?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A written record's MSG (BOM removed): what follows its structured data's last unescaped `]`. */
function msgOf(line: string): { msg: string; bom: boolean } {
  let i = 0;
  if (line[0] === '[')
    for (; i < line.length; i++) {
      if (line[i] === '\\') i++;
      else if (line[i] === ']' && line[i + 1] === ' ') break;
    }
  const msg = line.slice(i + 2);
  return { msg: msg.replace(/^\uFEFF/, ''), bom: msg.startsWith('\uFEFF') };
}

/** The `event_id` SD-PARAM of a record's structured data (RFC 5424 escapes: `\"`, `\\`, `\]`). */
function sdEventId(line: string): string | undefined {
  return /event_id="((?:\\.|[^"\\])*)"/.exec(line)?.[1];
}

describe('SIEM export through a stock rsyslog', () => {
  it(`N events → exactly N records per format (${FORMATS.join(', ')}), oversize ones cut and marked`, async () => {
    for (const record of records)
      await bus.publish(topics.events, [
        codec.encode(
          record.schema,
          agentKey((record.value as { tenant_id: string }).tenant_id, 'x'),
          record.value,
        ),
      ]);
    const n = records.length;
    const perFormat = () => {
      const lines = rsyslog.lines();
      return {
        lines,
        cef: lines.filter((l) => msgOf(l).msg.startsWith('CEF:0|')),
        leef: lines.filter((l) => msgOf(l).msg.startsWith('LEEF:2.0|')),
        ocsf: lines.filter((l) => msgOf(l).msg.startsWith('{')),
      };
    };
    await waitFor(
      `${n} records of each format at rsyslog`,
      async () => {
        const seen = perFormat();
        return (
          FORMATS.every((f) => exporter.counters(`relay-${f}`)!.delivered === n) && seen.lines.length >= 3 * n
        );
      },
      90_000,
    ).catch((error: Error) => {
      const seen = perFormat();
      throw new Error(
        `${error.message}: ${seen.lines.length} lines (cef ${seen.cef.length}, leef ${seen.leef.length}, ocsf ${seen.ocsf.length}); delivered ${FORMATS.map((f) => exporter.counters(`relay-${f}`)!.delivered).join('/')}, dead-lettered ${FORMATS.map((f) => exporter.counters(`relay-${f}`)!.deadLettered).join('/')}`,
      );
    });
    await new Promise((r) => setTimeout(r, 500)); // anything split would show up as extra lines by now
    const seen = perFormat();
    expect(seen.lines).toHaveLength(3 * n);
    for (const format of FORMATS) {
      const lines = seen[format];
      expect(lines, format).toHaveLength(n);
      // One record per event: every event id once.
      expect(new Set(lines.map(sdEventId)).size, format).toBe(n);
      // Oversize events arrive cut and marked. CEF's dictionary lengths already bring them under the message
      // size; LEEF and JSON are cut to fit it, which the structured data says (`truncated`, the whole MSG's octets).
      const big = lines.filter((l) => sdEventId(l)?.startsWith('oversize-'));
      expect(big, format).toHaveLength(OVERSIZE);
      for (const line of big) expect(line, format).toContain(TRUNCATION_MARKER);
      if (format !== 'cef') for (const line of big) expect(line, format).toMatch(/ truncated="\d+"\]/);
      for (const line of lines.filter((l) => / truncated="\d+"\]/.test(l)))
        expect(line, format).toContain(TRUNCATION_MARKER);
      for (const line of lines) {
        expect(Buffer.byteLength(line), format).toBeLessThanOrEqual(8_096);
        // rsyslog escapes control characters it receives as #ooo: none arrived.
        expect(line, format).not.toMatch(/#0[0-3][0-7]/);
      }
      if (format === 'ocsf')
        for (const line of lines) expect(() => JSON.parse(msgOf(line).msg)).not.toThrow();
    }
    // RFC 5424 §6.4: a non-ASCII MSG starts with the BOM.
    const msgs = seen.lines.map(msgOf);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is checked
    const nonAscii = msgs.filter((m) => /[^\x00-\x7f]/.test(m.msg));
    expect(nonAscii.length).toBeGreaterThan(0);
    expect(nonAscii.every((m) => m.bom)).toBe(true);
    console.log(
      `[siem-rsyslog] ${n} events per format → rsyslog (default config) wrote ${seen.cef.length} CEF, ${seen.leef.length} LEEF, ${seen.ocsf.length} OCSF records`,
    );
  }, 120_000);
});

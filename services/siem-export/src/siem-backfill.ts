import { readFileSync } from 'node:fs';
import type { DecodedValue } from '@thoth/platform';
import { formatEvent } from './formats/formats.ts';
import { toSiemEvent } from './siem-event.ts';
import { type SinkConfig, sinkFormat, sinkFormatOptions } from './sink-config.ts';
import { sinkWants } from './sink-filter.ts';
import type { DeliveryItem, Transport } from './transports/transport.ts';

/**
 * SIEM backfill: sends a sink what the audit trail holds from a point in time, read through the governance feed
 * (`GET /{tenant}/thoth/governance/feed`, oldest first), formatted and filtered exactly as the live exporter does.
 * A new sink's consumer group starts at the oldest event the events topic still holds, not at the start of the
 * trail: this is how it gets the history. At-least-once like the exporter: events already sent live may be sent
 * again (SIEMs deduplicate on the event id every format carries).
 */

/** A feed event as `toApiEvent` shows it: the row's columns and the event's full record. */
export type FeedEvent = Record<string, unknown>;
export interface FeedPage {
  data: FeedEvent[];
  next_offset: number | null;
}

const SCHEMA_OF_KIND = {
  behavioral: { schema: 'thoth.v1.BehavioralEvent', file: 'behavioral_event.avsc' },
  decision: { schema: 'thoth.v1.DecisionEvent', file: 'decision_event.avsc' },
  approval: { schema: 'thoth.v1.Hold', file: 'hold.avsc' },
  admin: { schema: 'thoth.v1.AdminEvent', file: 'admin_event.avsc' },
  finding: { schema: 'thoth.v1.Finding', file: 'finding.avsc' },
} as const;

const fieldNames = new Map<string, string[]>();
function fieldsOf(file: string): string[] {
  let names = fieldNames.get(file);
  if (!names) {
    const schema = JSON.parse(
      readFileSync(new URL(`../../../schemas/avro/${file}`, import.meta.url), 'utf8'),
    ) as { fields: Array<{ name: string }> };
    names = schema.fields.map((f) => f.name);
    fieldNames.set(file, names);
  }
  return names;
}

/**
 * The bus record of a feed event, or undefined for a kind that has none. The feed shows a row's `content` once
 * and leaves out of `record` the fields that held the same text (a behavioral event's `content`, a decision's
 * `reason`, …): every field of the schema that `record` lacks is one of those, and gets `content` back.
 */
export function recordOfFeedEvent(event: FeedEvent): DecodedValue | undefined {
  const kind = SCHEMA_OF_KIND[event.kind as keyof typeof SCHEMA_OF_KIND];
  const record = event.record;
  if (!kind || record === null || typeof record !== 'object') return undefined;
  const value: Record<string, unknown> = { ...(record as Record<string, unknown>) };
  for (const field of fieldsOf(kind.file)) if (!(field in value)) value[field] = event.content;
  // The audit writer stored one of these records: its fields are that schema's, as the bus carried them.
  return { schema: kind.schema, value } as unknown as DecodedValue;
}

export interface BackfillResult {
  read: number;
  delivered: number;
  filtered: number;
  /** Events the sink cannot take (unsupported, unformattable, refused by the receiver), with the reason. */
  skipped: Array<{ event_id: unknown; reason: string }>;
  /** The time of the last event read: where to resume (`--from`) after a failure. */
  last_occurred_at: string | null;
}

/**
 * Reads the feed page by page (`readPage(offset)`), and delivers each page's events the sink wants through
 * `transport`. A delivery that fails (receiver down) ends the backfill with the error: the result so far says
 * where to resume. `onPage` reports progress.
 */
export async function backfillSink(options: {
  sink: SinkConfig;
  transport: Transport;
  readPage: (offset: number) => Promise<FeedPage>;
  onPage?: (result: BackfillResult) => void;
}): Promise<BackfillResult> {
  const { sink, transport } = options;
  const format = sinkFormat(sink);
  const formatOptions = sinkFormatOptions(sink);
  const result: BackfillResult = { read: 0, delivered: 0, filtered: 0, skipped: [], last_occurred_at: null };
  let offset: number | null = 0;
  while (offset !== null) {
    const page = await options.readPage(offset);
    const items: DeliveryItem[] = [];
    const ids: unknown[] = [];
    for (const feedEvent of page.data) {
      result.read++;
      const record = recordOfFeedEvent(feedEvent);
      const event = record
        ? toSiemEvent(record)
        : { unsupported: `no record for kind ${String(feedEvent.kind)}` };
      if ('unsupported' in event) {
        result.skipped.push({ event_id: feedEvent.event_id, reason: event.unsupported });
        continue;
      }
      if (!sinkWants(sink, event)) {
        result.filtered++;
        continue;
      }
      try {
        items.push({ event, formatted: formatEvent(format, event, formatOptions) });
        ids.push(feedEvent.event_id);
      } catch (error) {
        result.skipped.push({
          event_id: feedEvent.event_id,
          reason: `cannot format as ${format}: ${(error as Error).message}`,
        });
      }
    }
    for (let at = 0; at < items.length; at += sink.batch_size) {
      const batch = items.slice(at, at + sink.batch_size);
      const { rejected } = await transport.deliver(batch);
      for (const r of rejected) result.skipped.push({ event_id: ids[at + r.index], reason: r.reason });
      result.delivered += batch.length - rejected.length;
    }
    const last = page.data[page.data.length - 1];
    if (last) result.last_occurred_at = String(last.occurred_at);
    options.onPage?.(result);
    offset = page.data.length === 0 ? null : page.next_offset;
  }
  return result;
}

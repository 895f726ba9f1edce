import {
  agentChainKey,
  type ChainFieldsJson,
  type ChainHead,
  chainFieldsJson,
  nextLink,
} from '@thoth/contracts';
import type { InsertFormat } from '@thoth/platform';
import { clickhouseTime } from '@thoth/platform';
import type { EventRow } from './event-rows.ts';

/**
 * The insert format of the `events` table's bodies: JSONCompactEachRow rows holding these columns
 * (schemas/clickhouse/0001_events.sql) in this order. `written_at` is left to its default, the time of the insert.
 */
export const EVENTS_BODY_FORMAT: InsertFormat = {
  format: 'JSONCompactEachRow',
  columns: [
    'tenant_id',
    'agent_id',
    'occurred_at',
    'event_id',
    'kind',
    'event_type',
    'session_id',
    'user_id',
    'tool_name',
    'decision',
    'reason_code',
    'risk_score',
    'enforcement_mode',
    'violation_id',
    'enforcement_trace_id',
    'content',
    'payload',
    'ingested_at',
    'chain_index',
    'previous_hash',
    'hash',
  ],
};

/** Bytes a row of the bench's takes in a body is about 1,000 (content and payload make most of it). */
export const BODY_BYTES_PER_ROW = 1_200;
/** Body buffers kept for reuse: one gathering, one being prepared, one being stored. */
const KEPT_BODY_BUFFERS = 3;

/**
 * Body buffers used again flush after flush. Memory the process has not touched yet costs far more than memory
 * it reuses: the kernel hands out each new page zeroed (on this project's 2-core VM about 2 µs a page, 20 times
 * the cost of writing it), so a 20 MB buffer allocated per flush cost more CPU than writing the rows into it.
 * A buffer is allocated at the size a full flush needs, so it never grows by copying; pages it never writes
 * are never touched (a short flush costs what it writes).
 *
 * The buffers are shared memory (a SharedArrayBuffer): the insert may run on another thread (the consumers'
 * thread hands it to the main thread's store, BridgedStore), and a view of shared memory crosses threads as it
 * is, where an ArrayBuffer would be copied twice, into the message and out of it, each time into memory never
 * touched before. So a flush's body goes to the store as a view of its buffer, and the buffer comes back here
 * once its insert is done.
 */
export class BodyBuffers {
  private readonly free: Buffer[] = [];

  constructor(private readonly firstBytes: number) {}

  take(): Buffer {
    return this.free.pop() ?? sharedBuffer(this.firstBytes);
  }

  /** A buffer nothing reads any more (its insert is done). */
  give(buffer: Buffer): void {
    if (this.free.length < KEPT_BODY_BUFFERS) this.free.push(buffer);
  }
}

function sharedBuffer(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}

/**
 * The insert body of one audit-writer flush: each row linked into its agent's chain and written as one line of
 * EVENTS_BODY_FORMAT straight into one buffer. Why this shape:
 * - positional rows cost chDB about a fifth less to parse than JSONEachRow's keyed ones (measured on the bench's
 *   rows, 9.4 → 7.6 µs a row), and its parse runs in the writer's process;
 * - each line goes into the buffer as it is made, instead of thousands of lines joined and encoded again per
 *   chunk, and the flush's body is one buffer, which reaches chDB without a concatenation;
 * - every string is escaped once (`chainFieldsJson`), for the link's hash and the stored row alike.
 */
export class EventsBodyWriter {
  private length = 0;
  private readonly times = new StoredTimes();
  /** Rows written since the last `clear`. */
  rows = 0;

  constructor(private bytes: Buffer) {}

  /** Links `row` on from its agent's head in `heads` (which it advances) and writes it. */
  append(row: EventRow, heads: Map<string, ChainHead>): void {
    this.appendJson(row, chainFieldsJson(row), agentChainKey(row.tenant_id, row.agent_id), heads);
  }

  /** `append` for a row whose fields are escaped already (`chainFieldsJson`) and whose chain key is known. */
  appendJson(row: EventRow, j: ChainFieldsJson, key: string, heads: Map<string, ChainHead>): void {
    const link = nextLink(j, key, heads);
    const line =
      `[${j.tenant_id},${j.agent_id},"${this.times.of(row.occurred_at_ms)}",${j.event_id},${j.kind}` +
      `,${j.event_type},${j.session_id},${j.user_id},${j.tool_name},${j.decision},${j.reason_code}` +
      `,${j.risk_score},${j.enforcement_mode},${j.violation_id},${j.enforcement_trace_id},${j.content}` +
      `,${j.payload},"${this.times.of(row.ingested_at_ms)}",${link.chain_index},"${link.previous_hash}"` +
      `,"${link.hash}"]\n`;
    // A UTF-16 code unit takes at most 3 bytes of UTF-8.
    this.reserve(line.length * 3);
    this.length += this.bytes.write(line, this.length);
    this.rows++;
  }

  /**
   * The rows written so far: a view of the buffer (shared memory when it came from BodyBuffers), valid until
   * the next `clear` or `append`, and as long as the buffer is not written again.
   */
  body(): Buffer {
    return this.bytes.subarray(0, this.length);
  }

  /** Forgets the rows written, keeping the buffer. */
  clear(): void {
    this.length = 0;
    this.rows = 0;
  }

  /** The buffer, to be used again once nothing reads `body()` any more. */
  get buffer(): Buffer {
    return this.bytes;
  }

  private reserve(needed: number): void {
    if (this.length + needed <= this.bytes.length) return;
    const larger = sharedBuffer(Math.max(this.bytes.length * 2, this.length + needed));
    this.bytes.copy(larger, 0, 0, this.length);
    this.bytes = larger;
  }
}

/**
 * `clickhouseTime(ms)`, formatting each second once: a flush's events fall in few seconds, and formatting a Date
 * for each of a row's two times was a tenth of its encoding.
 */
export class StoredTimes {
  private second = Number.NaN;
  private secondText = '';

  of(ms: number): string {
    // As a Date does: the fraction of a millisecond is dropped (toward zero).
    const whole = Math.trunc(ms);
    const second = Math.floor(whole / 1_000);
    if (second !== this.second) {
      this.second = second;
      this.secondText = clickhouseTime(second * 1_000).slice(0, 19);
    }
    const milli = whole - second * 1_000;
    return `${this.secondText}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}`;
  }
}

import type { ClickHouseSettings } from '@clickhouse/client';

/**
 * What consumers need of the analytics store: rows of a SELECT and JSONEachRow inserts. `Store` implements it
 * over ClickHouse or chDB; a consumer thread gets a bridge to the main thread's store (thread-bridge/), since
 * chDB must stay on the main thread. This module loads no engine, so a thread may import it.
 */
export interface AnalyticsStore {
  /** Rows of a SELECT with named parameters (`{name:Type}` in the SQL). */
  select<T>(query: string, params?: Record<string, unknown>): Promise<T[]>;
  /** Inserts rows as one JSONEachRow body. */
  insertRows(table: string, rows: readonly object[], settings?: ClickHouseSettings): Promise<void>;
  /** Inserts a body given as UTF-8 chunks, each ending with a newline (JSONEachRow unless `format` says otherwise). */
  insertBody(
    table: string,
    chunks: readonly Buffer[],
    settings?: ClickHouseSettings,
    format?: InsertFormat,
  ): Promise<void>;
}

/**
 * How the rows of an insert body are written: JSONEachRow (one object per line, by default), or
 * JSONCompactEachRow (one array per line holding the values of `columns` in order; the table's other columns take
 * their defaults). The engine parses positional rows about a fifth cheaper: a large writer uses them.
 */
export type InsertFormat =
  | { format: 'JSONEachRow' }
  | { format: 'JSONCompactEachRow'; columns: readonly string[] };

/** JSONEachRow lines (one JSON object each) as one chunk of an insert body (`AnalyticsStore.insertBody`). */
export function jsonEachRowChunk(lines: readonly string[]): Buffer {
  return Buffer.from(`${lines.join('\n')}\n`);
}

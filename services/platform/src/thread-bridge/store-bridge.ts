import type { ClickHouseSettings } from '@clickhouse/client';
import { type AnalyticsStore, type InsertFormat, jsonEachRowChunk } from '../store/analytics-store.ts';
import { asBuffer, ownBytes, type RpcPort } from './rpc-port.ts';

/**
 * The main thread's store, used from another thread: chDB must stay on the main thread (it crashes when a
 * thread that loaded it exits), so the other thread sends its queries and insert bodies over. The engine
 * parses and stores on threads of its own; the main thread only hands the bytes on.
 */
export function serveStore(rpc: RpcPort, store: AnalyticsStore): void {
  rpc.handle('store.select', (query: string, params: Record<string, unknown>) => store.select(query, params));
  rpc.handle(
    'store.insertBody',
    (table: string, chunks: Uint8Array[], settings?: ClickHouseSettings, format?: InsertFormat) =>
      store.insertBody(table, chunks.map(asBuffer), settings, format),
  );
}

/** An AnalyticsStore whose calls `serveStore` answers on the main thread. */
export class BridgedStore implements AnalyticsStore {
  constructor(private readonly rpc: RpcPort) {}

  select<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
    return this.rpc.call('store.select', query, params);
  }

  insertRows(table: string, rows: readonly object[], settings?: ClickHouseSettings): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.insertBody(table, [jsonEachRowChunk(rows.map((row) => JSON.stringify(row)))], settings);
  }

  insertBody(
    table: string,
    chunks: readonly Buffer[],
    settings?: ClickHouseSettings,
    format?: InsertFormat,
  ): Promise<void> {
    if (chunks.length === 0) return Promise.resolve();
    return this.rpc.call('store.insertBody', table, chunks.map(ownBytes), settings, format);
  }
}

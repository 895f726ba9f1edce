import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import {
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  type ClickHouseSettings,
  createClient,
} from '@clickhouse/client';
import type { Logger } from '../logger.ts';
import { type AnalyticsStore, type InsertFormat, jsonEachRowChunk } from './analytics-store.ts';
import { applyMigrations } from './migrations.ts';

export interface StoreConfig {
  /** A ClickHouse server (distributed mode). Without it: embedded chDB under `dataDir`. */
  clickhouseUrl?: string;
  user?: string;
  password?: string;
  database: string;
  dataDir: string;
}

/** chDB's own insert: the bytes go to its parser as they are (see `insertBody`). */
type RawInsert = (params: {
  table: string;
  values: Buffer;
  format: InsertFormat['format'];
  columns?: string[];
  settings?: Record<string, string | number | boolean>;
}) => Promise<unknown>;

/** Settings of every query and insert (an insert's own settings override them). */
const CLIENT_SETTINGS: ClickHouseSettings = { date_time_input_format: 'best_effort' };

/**
 * The analytics store: one `@clickhouse/client` whichever engine is behind it — a ClickHouse server over
 * HTTP, or chDB (the same engine, in process) through `chdb/connection`. Everything else talks to `client`.
 *
 * chDB facts that shape this module: one data directory per process, and it must stay on the main thread.
 * It ignores the client's `database` setting, so embedded tables live in chDB's `default` database (the
 * whole data directory is Thoth's); on a server they live in `database`, created at start.
 */
export class Store implements AnalyticsStore {
  private constructor(
    readonly client: ClickHouseClient,
    readonly engine: 'chdb' | 'server',
    private readonly rawInsert?: RawInsert,
  ) {}

  static async open(config: StoreConfig, log?: Logger): Promise<Store> {
    if (config.clickhouseUrl) {
      const base = { url: config.clickhouseUrl, username: config.user, password: config.password };
      const admin = createClient(base);
      await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${config.database}` });
      await admin.close();
      const client = createClient({
        ...base,
        database: config.database,
        clickhouse_settings: CLIENT_SETTINGS,
      });
      return new Store(client, 'server');
    }
    const path = resolve(config.dataDir, 'clickhouse');
    mkdirSync(path, { recursive: true });
    log?.info({ path }, 'opening embedded ClickHouse (chDB)');
    // Loaded here, not at import: a process on a ClickHouse server (distributed mode, its Docker image) never
    // loads chDB's native library, so that image ships without it. chdb is typed against its own copy of
    // @clickhouse/client-common; the runtime contract is the same.
    const { createChdbConnection } = await import('chdb/connection');
    const chdb = createChdbConnection({ path });
    const client = createClient({
      connection: chdb as unknown as ClickHouseClientConfigOptions['connection'],
      clickhouse_settings: CLIENT_SETTINGS,
    });
    return new Store(client, 'chdb', (params) => chdb.chdb.rawInsert(params));
  }

  /** Applies the SQL migrations of schemas/clickhouse that have not run yet (idempotent). */
  migrate(log?: Logger): Promise<string[]> {
    return applyMigrations(this.client, log);
  }

  /**
   * Sets the audit trail's retention (the `events` TTL, counted from when a row was stored) to `days`, when it
   * differs: a config value, so it cannot live in a migration file. ClickHouse prints the TTL as `toIntervalDay(N)` in the table's DDL.
   */
  async applyRetention(days: number): Promise<boolean> {
    const [table] = await this.select<{ ddl: string }>(
      "SELECT create_table_query AS ddl FROM system.tables WHERE database = currentDatabase() AND name = 'events'",
    );
    if (!table || table.ddl.includes(`toDateTime(written_at) + toIntervalDay(${days})`)) return false;
    await this.client.command({
      query: `ALTER TABLE events MODIFY TTL toDateTime(written_at) + toIntervalDay(${Math.trunc(days)})`,
    });
    return true;
  }

  /** Rows of a SELECT with named parameters (`{name:Type}` in the SQL). */
  async select<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
    const result = await this.client.query({ query, query_params: params, format: 'JSONEachRow' });
    return result.json<T>();
  }

  /**
   * Inserts rows as one JSONEachRow stream: serializing ourselves and streaming is several times faster than
   * handing the client an array of objects, and keeps the event loop free. `settings` apply to this insert
   * (e.g. `date_time_input_format: 'basic'` when every time is `YYYY-MM-DD hh:mm:ss.sss`: cheaper to parse).
   */
  insertRows(table: string, rows: readonly object[], settings?: ClickHouseSettings): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.insertBody(table, [jsonEachRowChunk(rows.map((row) => JSON.stringify(row)))], settings);
  }

  /**
   * Inserts a body given as UTF-8 chunks (each ends with a newline), JSONEachRow unless `format` says otherwise.
   * A writer may encode its rows chunk by chunk, so their strings die young instead of living, tens of MB, until
   * the insert is done; a single chunk reaches chDB without a copy.
   */
  async insertBody(
    table: string,
    chunks: readonly Buffer[],
    settings?: ClickHouseSettings,
    format: InsertFormat = { format: 'JSONEachRow' },
  ): Promise<void> {
    if (chunks.length === 0) return;
    const columns = format.format === 'JSONCompactEachRow' ? [...format.columns] : undefined;
    if (this.rawInsert) {
      // In process, the client would copy the body into an SQL string (then UTF-8 again) for chDB to read it
      // back: tens of MB per audit-writer flush. chDB's raw insert takes the bytes once.
      await this.rawInsert({
        table,
        values: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
        format: format.format,
        columns,
        // The client's own defaults do not reach this call: the same settings as every other query.
        settings: { ...CLIENT_SETTINGS, ...settings } as Record<string, string | number | boolean>,
      });
      return;
    }
    // `exec` sends a raw byte stream as the body; `insert` would re-encode every chunk as a JSON value.
    const result = await this.client.exec({
      query: `INSERT INTO ${table}${columns ? ` (${columns.join(', ')})` : ''} FORMAT ${format.format}`,
      values: Readable.from(chunks, { objectMode: false }),
      clickhouse_settings: settings,
    });
    result.stream.resume();
    await new Promise<void>((resolve, reject) => {
      result.stream.once('end', resolve).once('close', resolve).once('error', reject);
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

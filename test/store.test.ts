import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMigrations, Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let store: Store;
let dataDir: string;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'thoth-store-'));
  store = await Store.open({ database: 'thoth', dataDir });
});
afterAll(async () => {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('store on embedded ClickHouse (chDB)', () => {
  it('applies every migration once and records it; a second run applies nothing', async () => {
    const first = await store.migrate();
    expect(first).toEqual(readMigrations().map((m) => `${m.version}_${m.name}`));
    expect(await store.migrate()).toEqual([]);
    const recorded = await store.select<{ version: number }>(
      'SELECT version FROM thoth_migrations ORDER BY version',
    );
    expect(recorded.map((r) => Number(r.version))).toEqual(readMigrations().map((m) => m.version));
  });

  it('sets the events retention from config, only when it differs', async () => {
    expect(await store.applyRetention(365)).toBe(false);
    expect(await store.applyRetention(30)).toBe(true);
    const [t] = await store.select<{ ddl: string }>(
      "SELECT create_table_query AS ddl FROM system.tables WHERE database = currentDatabase() AND name = 'events'",
    );
    expect(t!.ddl).toContain('toIntervalDay(30)');
    expect(await store.applyRetention(30)).toBe(false);
  });

  it('inserts JSONEachRow rows through the raw stream path, quotes and unicode intact', async () => {
    await store.client.command({
      query: 'CREATE TABLE IF NOT EXISTS probe (id String, n UInt32) ENGINE = MergeTree ORDER BY id',
    });
    await store.insertRows('probe', [
      { id: `it's "quoted" ✓\n`, n: 1 },
      { id: 'plain', n: 2 },
    ]);
    const rows = await store.select<{ id: string; n: number }>('SELECT id, n FROM probe ORDER BY n');
    expect(rows.map((r) => r.id)).toEqual([`it's "quoted" ✓\n`, 'plain']);
  });

  it('reads ISO-8601 times in inserts like every query does; an insert can ask for the basic parser', async () => {
    await store.client.command({
      query:
        "CREATE TABLE IF NOT EXISTS times (id UInt8, at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY id",
    });
    await store.insertRows('times', [{ id: 1, at: '2026-11-24T10:00:00.123Z' }]);
    await store.insertBody('times', [Buffer.from('{"id":2,"at":"2026-11-24 10:00:00.456"}\n')], {
      date_time_input_format: 'basic',
    });
    await expect(
      store.insertBody('times', [Buffer.from('{"id":3,"at":"2026-11-24T10:00:00.789Z"}\n')], {
        date_time_input_format: 'basic',
      }),
    ).rejects.toThrow();
    const rows = await store.select<{ id: number; ms: string }>(
      'SELECT id, toUnixTimestamp64Milli(at) AS ms FROM times ORDER BY id',
    );
    expect(rows.map((r) => [Number(r.id), Number(r.ms)])).toEqual([
      [1, Date.parse('2026-11-24T10:00:00.123Z')],
      [2, Date.parse('2026-11-24T10:00:00.456Z')],
    ]);
  });
});

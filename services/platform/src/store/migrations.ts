import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '../logger.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../../schemas/clickhouse/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  statements: string[];
}

/** `NNNN_name.sql` files, in version order. Statements end with `;` at the end of a line. */
export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const text = readFileSync(`${dir}/${file}`, 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file.slice(5, -4),
        checksum: createHash('sha256').update(text).digest('hex'),
        statements: splitStatements(text),
      };
    });
}

/** Splits a migration file into statements; a ClickHouse server accepts one statement per request. */
export function splitStatements(sql: string): string[] {
  const withoutComments = sql
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n');
  return withoutComments
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Applies pending migrations and records each in `thoth_migrations`. Statements are written to be idempotent
 * (IF NOT EXISTS), so a migration interrupted half-way simply runs again. A migration file edited after it
 * was applied is an error: the schema it describes is not the schema that exists.
 */
export async function applyMigrations(
  client: ClickHouseClient,
  log?: Logger,
  dir?: string,
): Promise<string[]> {
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS thoth_migrations (
      version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = MergeTree ORDER BY version`,
  });
  const result = await client.query({
    query: 'SELECT version, any(checksum) AS checksum FROM thoth_migrations GROUP BY version',
    format: 'JSONEachRow',
  });
  const applied = new Map(
    (await result.json<{ version: number; checksum: string }>()).map((r) => [Number(r.version), r.checksum]),
  );
  const ran: string[] = [];
  for (const m of readMigrations(dir)) {
    const previous = applied.get(m.version);
    if (previous !== undefined) {
      if (previous !== m.checksum)
        throw new Error(
          `migration ${m.version}_${m.name} was changed after it was applied; add a new migration instead`,
        );
      continue;
    }
    for (const statement of m.statements) await client.command({ query: statement });
    await client.insert({
      table: 'thoth_migrations',
      values: [{ version: m.version, name: m.name, checksum: m.checksum }],
      format: 'JSONEachRow',
    });
    log?.info({ migration: `${m.version}_${m.name}` }, 'migration applied');
    ran.push(`${m.version}_${m.name}`);
  }
  return ran;
}

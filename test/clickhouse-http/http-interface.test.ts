import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import {
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  ClickHouseError,
  ClickHouseLogLevel,
  createClient as createLoudClient,
} from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SharedClickHouse, startSharedClickHouse } from './shared-clickhouse.ts';

// What @clickhouse/client sends and expects of a ClickHouse server's HTTP interface, against the shared
// ClickHouse (this folder's server on chDB, or the real server CLICKHOUSE_URL names).
let USER = 'thoth';
let PASSWORD = 'it is a secret';
let clickhouse: SharedClickHouse;
let client: ClickHouseClient;
/** A client that does not log the errors these tests cause on purpose. */
const createClient = (options: ClickHouseClientConfigOptions) =>
  createLoudClient({ ...options, log: { level: ClickHouseLogLevel.OFF } });
const database = `thoth_shim_${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  clickhouse = await startSharedClickHouse({ user: USER, password: PASSWORD });
  // A real server (CLICKHOUSE_URL) has users of its own.
  USER = clickhouse.user;
  PASSWORD = clickhouse.password;
  const admin = createClient({ url: clickhouse.url, username: USER, password: PASSWORD });
  await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
  await admin.close();
  client = createClient({ url: clickhouse.url, username: USER, password: PASSWORD, database });
  await client.command({
    query: 'CREATE TABLE probe (id UInt32, name String, tags Array(String)) ENGINE = MergeTree ORDER BY id',
  });
});
afterAll(async () => {
  await client?.close();
  await clickhouse?.stop();
});

const rows = async <T>(query: string, extra: Parameters<ClickHouseClient['query']>[0] = { query }) =>
  (await client.query({ ...extra, query, format: 'JSONEachRow' })).json<T>();

/** The raw answer of one HTTP request, for what the client does not show (headers, status, encodings). */
async function raw(path: string, init: RequestInit = {}) {
  const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  const response = await fetch(`${clickhouse.url}${path}`, {
    ...init,
    headers: { Authorization: auth, ...(init.headers as Record<string, string>) },
  });
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  };
}

describe('the ClickHouse HTTP interface, through @clickhouse/client', () => {
  it('answers ping, both kinds', async () => {
    expect(await client.ping()).toEqual({ success: true });
    expect(await client.ping({ select: true })).toEqual({ success: true });
    const ping = await fetch(`${clickhouse.url}/ping`);
    expect([ping.status, await ping.text()]).toEqual([200, 'Ok.\n']);
  });

  it('binds parameters from their text, as the server does: quotes, backslashes, control characters, arrays', async () => {
    const text = `it's a \\ "test"\twith\na line ✓`;
    const [row] = await rows<Record<string, unknown>>(
      `SELECT {s:String} AS s, {a:Array(String)} AS a, {n:Int64} AS n, {u:Nullable(String)} AS u,
              toUnixTimestamp64Milli({t:DateTime64(3, 'UTC')}) AS t`,
      {
        query: '',
        query_params: {
          s: text,
          a: [text, 'x'],
          n: -42,
          u: null,
          t: new Date(Date.UTC(2026, 10, 24, 10, 0, 0, 123)),
        },
      },
    );
    expect(row).toEqual({ s: text, a: [text, 'x'], n: expect.anything(), u: null, t: expect.anything() });
    expect(Number(row!.n)).toBe(-42);
    expect(Number(row!.t)).toBe(Date.UTC(2026, 10, 24, 10, 0, 0, 123));
  });

  it('sends parameters in a multipart body when told to, with the same result', async () => {
    const multipart = createClient({
      url: clickhouse.url,
      username: USER,
      password: PASSWORD,
      database,
      use_multipart_params: true,
    });
    try {
      const result = await multipart.query({
        query: 'SELECT {s:String} AS s, {a:Array(String)} AS a',
        query_params: { s: `a'b\\c`, a: ['x', `y'z`] },
        format: 'JSONEachRow',
      });
      expect(await result.json()).toEqual([{ s: `a'b\\c`, a: ['x', `y'z`] }]);
    } finally {
      await multipart.close();
    }
  });

  it('inserts into and reads from the client’s database; the summary counts the rows written', async () => {
    const insert = await client.insert({
      table: 'probe',
      values: [
        { id: 1, name: 'one', tags: ['a'] },
        { id: 2, name: `two's`, tags: [] },
      ],
      format: 'JSONEachRow',
    });
    expect(insert.summary?.written_rows).toBe('2');
    expect(await rows('SELECT currentDatabase() AS db')).toEqual([{ db: database }]);
    expect(await rows('SELECT id, name, tags FROM probe ORDER BY id')).toEqual([
      { id: 1, name: 'one', tags: ['a'] },
      { id: 2, name: `two's`, tags: [] },
    ]);
  });

  it('an unknown database is UNKNOWN_DATABASE', async () => {
    const other = createClient({
      url: clickhouse.url,
      username: USER,
      password: PASSWORD,
      database: 'no_such_db',
    });
    try {
      await expect(other.query({ query: 'SELECT 1' })).rejects.toMatchObject({
        code: '81',
        type: 'UNKNOWN_DATABASE',
      });
    } finally {
      await other.close();
    }
  });

  it('compresses both ways when the client asks, and says so in the headers', async () => {
    const compressed = createClient({
      url: clickhouse.url,
      username: USER,
      password: PASSWORD,
      database,
      compression: { request: true, response: true },
    });
    try {
      await compressed.insert({
        table: 'probe',
        values: [{ id: 10, name: 'x'.repeat(10_000), tags: ['gz'] }],
        format: 'JSONEachRow',
      });
      const result = await compressed.query({
        query: 'SELECT id, length(name) AS n, tags FROM probe WHERE id = 10',
        format: 'JSONEachRow',
      });
      expect(await result.json()).toEqual([{ id: 10, n: 10_000, tags: ['gz'] }]);
      // An error is compressed too: the client still reads its code.
      await expect(compressed.query({ query: 'SELECT * FROM no_such_table' })).rejects.toMatchObject({
        code: '60',
      });
    } finally {
      await compressed.close();
    }
    const failed = await raw(
      `/?enable_http_compression=1&query=${encodeURIComponent('SELECT * FROM no_such_table')}`,
      {
        headers: { 'Accept-Encoding': 'gzip' },
      },
    );
    expect([failed.status, failed.headers.get('content-encoding')]).toEqual([404, 'gzip']);
    expect(failed.body.toString()).toMatch(/^Code: 60\./);
    const answer = await raw(
      `/?database=${database}&enable_http_compression=1&query=${encodeURIComponent('SELECT name FROM probe WHERE id = 10')}`,
      { headers: { 'Accept-Encoding': 'gzip' } },
    );
    expect(answer.headers.get('content-encoding')).toBe('gzip');
    // fetch decompresses a gzip body itself: the text arrives whole either way.
    expect(answer.body.toString()).toBe(`${'x'.repeat(10_000)}\n`);
    const posted = await raw(
      `/?database=${database}&query=${encodeURIComponent('INSERT INTO probe FORMAT JSONEachRow')}`,
      {
        method: 'POST',
        headers: { 'Content-Encoding': 'gzip' },
        body: gzipSync('{"id":11,"name":"gzipped","tags":[]}\n'),
      },
    );
    expect(posted.status).toBe(200);
    expect(await rows('SELECT name FROM probe WHERE id = 11')).toEqual([{ name: 'gzipped' }]);
  });

  it('answers errors as ClickHouse does: status, X-ClickHouse-Exception-Code, Code: N. DB::Exception', async () => {
    await expect(client.query({ query: 'SELECT * FROM no_such_table' })).rejects.toMatchObject({
      code: '60',
      type: 'UNKNOWN_TABLE',
    });
    const syntax = await client.command({ query: 'SELEC 1' }).catch((e: unknown) => e);
    expect(syntax).toBeInstanceOf(ClickHouseError);
    // The type the client reads is the first `(NAME)` of the message: here the quoted token, as on a server.
    expect(syntax).toMatchObject({ code: '62' });
    const answer = await raw(`/?query=${encodeURIComponent('SELECT * FROM no_such_table')}`);
    expect(answer.status).toBe(404);
    expect(answer.headers.get('x-clickhouse-exception-code')).toBe('60');
    expect(answer.body.toString()).toMatch(
      /^Code: 60\. DB::Exception: .*\(UNKNOWN_TABLE\) \(version [^)]+\)\n$/s,
    );
    // A bare expression is not a query on a server (chDB alone would take it as a SELECT).
    await expect(client.query({ query: '1 + 1' })).rejects.toMatchObject({ code: '62' });
    const bad = await raw(`/?query=${encodeURIComponent('SELEC 1')}`);
    expect([bad.status, bad.headers.get('x-clickhouse-exception-code')]).toEqual([400, '62']);
  });

  it('accepts its user only', async () => {
    const wrong = createClient({ url: clickhouse.url, username: USER, password: 'wrong' });
    try {
      await expect(wrong.query({ query: 'SELECT 1' })).rejects.toMatchObject({
        code: '516',
        type: 'AUTHENTICATION_FAILED',
      });
    } finally {
      await wrong.close();
    }
    const stranger = await fetch(
      `${clickhouse.url}/?user=nobody_${randomUUID().slice(0, 8)}&query=SELECT%201`,
    );
    expect([stranger.status, stranger.headers.get('x-clickhouse-exception-code')]).toEqual([403, '516']);
    const byParams = await fetch(
      `${clickhouse.url}/?user=${USER}&password=${encodeURIComponent(PASSWORD)}&query=SELECT%201`,
    );
    expect([byParams.status, await byParams.text()]).toEqual([200, '1\n']);
  });

  it('settings in the URL hold for their query only; default_format and query_id are honoured', async () => {
    const probe = "SELECT getSetting('max_threads') AS v";
    const [during] = await rows<{ v: unknown }>(probe, {
      query: '',
      clickhouse_settings: { max_threads: 1 },
    });
    const [after] = await rows<{ v: unknown }>(probe);
    expect(String(during!.v)).toBe('1');
    expect(String(after!.v)).not.toBe('1');
    const id = randomUUID();
    const answer = await raw(
      `/?default_format=JSONEachRow&query_id=${id}&query=${encodeURIComponent('SELECT 1 AS one')}`,
    );
    expect(answer.body.toString()).toBe('{"one":1}\n');
    expect(answer.headers.get('x-clickhouse-query-id')).toBe(id);
    expect(answer.headers.get('x-clickhouse-format')).toBe('JSONEachRow');
    expect(JSON.parse(answer.headers.get('x-clickhouse-summary')!)).toMatchObject({ read_rows: '1' });
  });

  it('a GET runs read-only queries only', async () => {
    const answer = await raw(`/?query=${encodeURIComponent('CREATE TABLE nope (a UInt8) ENGINE = Memory')}`);
    expect(answer.headers.get('x-clickhouse-exception-code')).toBe('164');
  });

  it('a session keeps its SETs and temporary tables; other requests do not see them', async () => {
    const session_id = randomUUID();
    await client.command({ query: 'SET max_threads = 1', session_id });
    await client.command({ query: 'CREATE TEMPORARY TABLE scratch (a UInt8)', session_id });
    await client.command({ query: 'INSERT INTO scratch VALUES (7)', session_id });
    const inSession = await client.query({
      query: "SELECT getSetting('max_threads') AS v, (SELECT sum(a) FROM scratch) AS s",
      session_id,
      format: 'JSONEachRow',
    });
    const [row] = await inSession.json<{ v: unknown; s: unknown }>();
    expect([String(row!.v), Number(row!.s)]).toEqual(['1', 7]);
    await expect(client.query({ query: 'SELECT * FROM scratch' })).rejects.toMatchObject({ code: '60' });
    // A URL setting of one request in a session does not stay in the session.
    await client.query({ query: 'SELECT 1', session_id, clickhouse_settings: { max_threads: 2 } });
    const again = await client.query({
      query: "SELECT getSetting('max_threads') AS v",
      session_id,
      format: 'JSONEachRow',
    });
    expect(String((await again.json<{ v: unknown }>())[0]!.v)).toBe('1');
  });

  it('an empty insert body inserts nothing and succeeds; a bad row fails the insert with the engine’s code', async () => {
    const empty = await client.exec({
      query: 'INSERT INTO probe FORMAT JSONEachRow',
      values: Readable.from([], { objectMode: false }),
    });
    empty.stream.resume();
    await expect(
      client.insert({ table: 'probe', values: [{ id: 'not a number' }], format: 'JSONEachRow' }),
    ).rejects.toBeInstanceOf(ClickHouseError);
  });
});

describe('startSharedClickHouse with CLICKHOUSE_URL set', () => {
  it('starts nothing and hands back that server and CLICKHOUSE_USER/PASSWORD', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      CLICKHOUSE_URL: 'http://clickhouse.example:8123',
      CLICKHOUSE_USER: 'reader',
      CLICKHOUSE_PASSWORD: 'pw',
    });
    try {
      const external = await startSharedClickHouse({ user: 'ignored', password: 'ignored' });
      expect({ url: external.url, user: external.user, password: external.password }).toEqual({
        url: 'http://clickhouse.example:8123',
        user: 'reader',
        password: 'pw',
      });
      await external.stop();
    } finally {
      for (const name of ['CLICKHOUSE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });
});

describe('the shared ClickHouse is test infrastructure', () => {
  it('nothing under services/ imports it', () => {
    const root = resolve(import.meta.dirname, '../../services');
    const sources = (readdirSync(root, { recursive: true }) as string[]).filter(
      (f) => f.endsWith('.ts') && !f.includes('node_modules'),
    );
    expect(sources.length).toBeGreaterThan(50);
    const importing = sources.filter((f) => /clickhouse-http/.test(readFileSync(join(root, f), 'utf8')));
    expect(importing).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import {
  ClickHouseException,
  exceptionBody,
  httpStatus,
  outputFormat,
  parseEngineError,
  readRequest,
  responseEncoding,
  stringLiteral,
} from './request.ts';

// The HTTP handler's reading rules (src/Server/HTTPHandler.cpp), as pure functions.
const read = (query: string, body = '', method = 'POST', headers: Record<string, string> = {}) =>
  readRequest(method, new URLSearchParams(query), headers, Buffer.from(body));

describe('reading a ClickHouse HTTP request', () => {
  it('the query is the `query` parameter, a line break, then the body', () => {
    expect(read('query=SELECT', '1').sql).toBe('SELECT\n1');
    expect(read('', 'SELECT 2').sql).toBe('SELECT 2');
    expect(read('query=SELECT%203').sql).toBe('SELECT 3\n');
  });

  it('an INSERT … FORMAT in the URL keeps its body as bytes for a text format chDB inserts raw', () => {
    const r = read(`query=${encodeURIComponent('INSERT INTO db.t (a, b) FORMAT JSONEachRow')}`, '{"a":1}\n');
    expect(r.insert).toEqual({
      table: 'db.t',
      columns: ['a', 'b'],
      format: 'JSONEachRow',
      data: Buffer.from('{"a":1}\n'),
    });
    // Values is text, not one of chDB's raw formats: it runs as SQL text.
    const values = read(`query=${encodeURIComponent('INSERT INTO t FORMAT Values')}`, '(1)');
    expect([values.insert, values.sql]).toEqual([undefined, 'INSERT INTO t FORMAT Values\n(1)']);
    expect(() => read(`query=${encodeURIComponent('INSERT INTO t FORMAT RowBinary')}`, '\u0001')).toThrow(
      /binary format/,
    );
  });

  it('separates settings from the parameters the handler reads itself; the first param_ value wins', () => {
    const r = read(
      'query_id=q1&database=d&default_format=JSON&param_x=1&param_x=2&max_threads=2&wait_end_of_query=1&session_id=s&session_timeout=5&user=u&password=p',
    );
    expect(r).toMatchObject({
      queryId: 'q1',
      database: 'd',
      defaultFormat: 'JSON',
      params: [['x', '1']],
      settings: [['max_threads', '2']],
      sessionId: 's',
      sessionTimeoutSeconds: 5,
      user: 'u',
      password: 'p',
      readOnly: false,
    });
    expect(read('query=SELECT%201', '', 'GET').readOnly).toBe(true);
  });

  it('headers name the database and format before parameters do', () => {
    const r = read('database=fromUrl&default_format=CSV', '', 'POST', {
      'x-clickhouse-database': 'fromHeader',
      'x-clickhouse-format': 'JSONEachRow',
    });
    expect([r.database, r.defaultFormat]).toEqual(['fromHeader', 'JSONEachRow']);
  });

  it('credentials come from Basic auth, X-ClickHouse-User/Key, or parameters, never two at once', () => {
    const basic = `Basic ${Buffer.from('alice:pa:ss').toString('base64')}`;
    expect(read('', '', 'POST', { authorization: basic })).toMatchObject({
      user: 'alice',
      password: 'pa:ss',
    });
    expect(read('', '', 'POST', { 'x-clickhouse-user': 'bob', 'x-clickhouse-key': 'k' })).toMatchObject({
      user: 'bob',
      password: 'k',
    });
    expect(read('')).toMatchObject({ user: 'default', password: '' });
    expect(() => read('user=x', '', 'POST', { authorization: basic })).toThrow(/simultaneously/);
  });

  it('reads query and param_ fields from a multipart body, and skips *_format URL settings as the server does', () => {
    const boundary = '----b';
    const body = [
      `--${boundary}`,
      'Content-Disposition: form-data; name="query"',
      '',
      'SELECT {v:Array(String)}',
      `--${boundary}`,
      'Content-Disposition: form-data; name="param_v"',
      '',
      "['a','b']",
      `--${boundary}--`,
      '',
    ].join('\r\n');
    const r = read('date_time_input_format=best_effort&max_threads=1', body, 'POST', {
      'content-type': `multipart/form-data; boundary=${boundary}`,
    });
    expect(r.sql).toBe('SELECT {v:Array(String)}');
    expect(r.params).toEqual([['v', "['a','b']"]]);
    expect(r.settings).toEqual([['max_threads', '1']]);
  });

  it('a session timeout is whole seconds', () => {
    expect(() => read('session_id=s&session_timeout=soon')).toThrow(/session timeout/);
  });

  it('refuses what it does not implement instead of ignoring it', () => {
    expect(() => read('compress=1')).toThrow(/native compression/);
    expect(() => read('role=admin')).toThrow(/roles/);
  });
});

describe('answering', () => {
  it('statuses follow exceptionCodeToHTTPStatus', () => {
    expect(
      ['SYNTAX_ERROR', 'UNKNOWN_TABLE', 'AUTHENTICATION_FAILED', 'REQUIRED_PASSWORD', 'READONLY'].map(
        httpStatus,
      ),
    ).toEqual([400, 404, 403, 401, 500]);
  });

  it('an error body is `Code: N. DB::Exception: … (NAME) (version …)`, with one version', () => {
    const own = new ClickHouseException(48, 'NOT_IMPLEMENTED', 'no');
    expect(exceptionBody(own, '26.7')).toBe(
      'Code: 48. DB::Exception: no. (NOT_IMPLEMENTED) (version 26.7)\n',
    );
    const engine = parseEngineError('Code: 60. DB::Exception: Unknown table x. (UNKNOWN_TABLE)');
    expect([engine.code, engine.type]).toEqual([60, 'UNKNOWN_TABLE']);
    expect(exceptionBody(engine, '26.7')).toBe(
      'Code: 60. DB::Exception: Unknown table x. (UNKNOWN_TABLE) (version 26.7)\n',
    );
    const nested =
      'Code: 73. DB::Exception: Code: 73. DB::Exception: x. (UNKNOWN_FORMAT) (version 26.7). (UNKNOWN_FORMAT)';
    expect(parseEngineError(nested).type).toBe('UNKNOWN_FORMAT');
  });

  it('the output format is the query’s FORMAT clause, else the default format, else TabSeparated; none for INSERT', () => {
    expect(outputFormat('SELECT 1 \nFORMAT JSONEachRow', 'CSV')).toBe('JSONEachRow');
    expect(outputFormat('SELECT 1', 'CSV')).toBe('CSV');
    expect(outputFormat('SELECT 1', undefined)).toBe('TabSeparated');
    expect(outputFormat('INSERT INTO t FORMAT JSONEachRow', undefined)).toBeUndefined();
  });

  it('response compression follows the server’s preference among what both sides have', () => {
    expect(responseEncoding('gzip, deflate, br', ['gzip', 'deflate', 'br'])).toBe('br');
    expect(responseEncoding('gzip, zstd', ['gzip', 'deflate', 'br'])).toBe('gzip');
    expect(responseEncoding(undefined, ['gzip'])).toBeUndefined();
  });

  it('a string literal holds any text exactly (quotes, backslashes, NUL)', () => {
    expect(stringLiteral(`it's \\ \0`)).toBe(`'it\\'s \\\\ \\0'`);
  });
});
